//! The scalar type reference kernels are generic over: f32 for parity with fast kernels, f64 for finite-difference
//! gradient checks.

pub trait Real:
    num_traits::Float + num_traits::FromPrimitive + Send + Sync + Copy + std::fmt::Debug + std::iter::Sum + 'static
{
    fn c(x: f64) -> Self {
        <Self as num_traits::FromPrimitive>::from_f64(x).expect("f64 converts to every Real")
    }
}

impl Real for f32 {}
impl Real for f64 {}
