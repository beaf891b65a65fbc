//! One text message of Binance's kline stream, read into a [`Kline`].
//!
//! The combined stream (`/stream?streams=...`) wraps each event as `{"stream": "...", "data": {...}}`; a raw stream
//! (`/ws/...`) sends the event itself; both are read. The event is `{"e": "kline", "s": SYMBOL, "k": {...}}` where
//! `k` has the open time `t` (ms), the symbol `s`, the interval `i`, prices `o h l c`, base volume `v`, trade count
//! `n`, the closed flag `x` and the taker-buy base volume `V`; Binance sends prices and volumes as decimal strings,
//! which are parsed here exactly as the CSV loader parses the same text (so a streamed bar equals its CSV row).
//!
//! Policy for what does not fit: the reply to a subscription request (`{"result": ..., "id": ...}`) carries no bar
//! and is [`Message::Other`]; anything else that is not a well-formed kline event is an error naming the field,
//! what was expected and what was found. A malformed kline is not skipped: it may be a closed bar, and dropping it
//! unseen would hide a protocol change behind a run of gaps.

use crate::data::incremental::Bar;
use crate::{Error, Result};
use serde_json::{Map, Value};

/// A kline update as the stream sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Kline {
    /// `k.s`, as Binance spells it (upper case).
    pub symbol: String,
    /// `k.i`, e.g. `1m`.
    pub interval: String,
    /// `k.x`: the bar is final; earlier updates of the same open time are `false`.
    pub closed: bool,
    pub bar: Bar,
}

/// What one text message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Kline(Kline),
    /// A message without a bar: the reply to a (un)subscribe request.
    Other,
}

/// Read one text message; `at` names it in errors (the URL and the message's number).
pub fn parse(text: &str, at: &str) -> Result<Message> {
    let fail = |what: String| Error::parse(at, format!("{what}; message: {}", excerpt(text)));
    let v: Value = serde_json::from_str(text).map_err(|e| fail(format!("not JSON ({e})")))?;
    let Value::Object(top) = &v else {
        return Err(fail(format!("expected a JSON object, found {}", kind(&v))));
    };
    if top.contains_key("id") && top.contains_key("result") {
        return Ok(Message::Other);
    }
    if let Some(err) = top.get("error") {
        return Err(fail(format!("the server sent an error: {err}")));
    }
    let (event, prefix) = match top.get("data") {
        Some(Value::Object(d)) => (d, "data."),
        Some(other) => return Err(fail(format!("field `data`: expected an object, found {}", kind(other)))),
        None => (top, ""),
    };
    let e = field(event, prefix, "e").map_err(fail)?;
    if e.as_str() != Some("kline") {
        return Err(fail(format!("field `{prefix}e`: expected \"kline\", found {e}")));
    }
    let k = match field(event, prefix, "k").map_err(fail)? {
        Value::Object(k) => k,
        other => return Err(fail(format!("field `{prefix}k`: expected an object, found {}", kind(other)))),
    };
    let p = format!("{prefix}k.");
    let r = Reader { k, prefix: &p };
    let read = || -> std::result::Result<Kline, String> {
        Ok(Kline {
            symbol: r.text("s")?,
            interval: r.text("i")?,
            closed: r.flag("x")?,
            bar: Bar {
                timestamp: r.int("t")?,
                open: r.decimal("o")?,
                high: r.decimal("h")?,
                low: r.decimal("l")?,
                close: r.decimal("c")?,
                volume: r.decimal("v")?,
                trades: Some(r.int("n")? as f64),
                taker_buy_base_volume: Some(r.decimal("V")?),
            },
        })
    };
    read().map(Message::Kline).map_err(fail)
}

fn field<'a>(obj: &'a Map<String, Value>, prefix: &str, name: &str) -> std::result::Result<&'a Value, String> {
    obj.get(name).ok_or_else(|| format!("field `{prefix}{name}` is missing"))
}

/// Typed reads of the fields of `k`, each error naming the field as `data.k.NAME`.
struct Reader<'a> {
    k: &'a Map<String, Value>,
    prefix: &'a str,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> std::result::Result<&Value, String> {
        field(self.k, self.prefix, name)
    }

    fn wrong(&self, name: &str, expected: &str, found: &Value) -> String {
        format!("field `{}{name}`: expected {expected}, found {found}", self.prefix)
    }

    fn text(&self, name: &str) -> std::result::Result<String, String> {
        let v = self.get(name)?;
        v.as_str().map(str::to_string).ok_or_else(|| self.wrong(name, "a string", v))
    }

    fn flag(&self, name: &str) -> std::result::Result<bool, String> {
        let v = self.get(name)?;
        v.as_bool().ok_or_else(|| self.wrong(name, "true or false", v))
    }

    fn int(&self, name: &str) -> std::result::Result<i64, String> {
        let v = self.get(name)?;
        v.as_i64().ok_or_else(|| self.wrong(name, "an integer", v))
    }

    /// A finite decimal number sent as a string (`"7189.43"`).
    fn decimal(&self, name: &str) -> std::result::Result<f64, String> {
        let v = self.get(name)?;
        v.as_str()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|x| x.is_finite())
            .ok_or_else(|| self.wrong(name, "a finite decimal number as a string", v))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The message as quoted in an error: at most 200 characters.
fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSED: &str = r#"{"stream":"btcusdt@kline_1h","data":{"e":"kline","E":1577840400011,"s":"BTCUSDT","k":{"t":1577836800000,"T":1577840399999,"s":"BTCUSDT","i":"1h","f":1,"L":3688,"o":"7189.43","c":"7171.55","h":"7190.52","l":"7170.15","v":"2449.049","n":3688,"x":true,"q":"17576424.43970","V":"996.198","Q":"7149370.76353","B":"0"}}}"#;

    #[test]
    fn a_closed_kline_is_the_csv_row() {
        let Message::Kline(k) = parse(CLOSED, "m 1").unwrap() else { panic!("not a kline") };
        assert_eq!((k.symbol.as_str(), k.interval.as_str(), k.closed), ("BTCUSDT", "1h", true));
        let want = Bar {
            timestamp: 1577836800000,
            open: 7189.43,
            high: 7190.52,
            low: 7170.15,
            close: 7171.55,
            volume: 2449.049,
            trades: Some(3688.0),
            taker_buy_base_volume: Some(996.198),
        };
        assert_eq!(k.bar, want);
        // the raw-stream form (no wrapper) reads the same
        let raw: Value = serde_json::from_str(CLOSED).unwrap();
        assert_eq!(parse(&raw["data"].to_string(), "m").unwrap(), Message::Kline(k));
        assert_eq!(parse(r#"{"result":null,"id":1}"#, "m").unwrap(), Message::Other);
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let cases = [
            (CLOSED.replace(r#""o":"7189.43""#, r#""o":7189.43"#), "`data.k.o`: expected a finite decimal"),
            (CLOSED.replace(r#""c":"7171.55""#, r#""c":"NaN""#), "`data.k.c`: expected a finite decimal"),
            (CLOSED.replace(r#""h":"7190.52""#, r#""h":"7190,52""#), "`data.k.h`"),
            (CLOSED.replace(r#""n":3688,"#, ""), "field `data.k.n` is missing"),
            (CLOSED.replace(r#""x":true"#, r#""x":"true""#), "`data.k.x`: expected true or false, found \"true\""),
            (CLOSED.replace(r#""t":1577836800000"#, r#""t":1.5"#), "`data.k.t`: expected an integer, found 1.5"),
            (CLOSED.replace(r#""e":"kline""#, r#""e":"aggTrade""#), "`data.e`: expected \"kline\""),
            (CLOSED.replace(r#""k":{"#, r#""k":[{"#).replace("}}}", "}]}}"), "`data.k`: expected an object"),
            (CLOSED[..40].to_string(), "not JSON"),
            ("[1,2]".to_string(), "expected a JSON object, found an array"),
            (r#"{"error":{"code":2,"msg":"Invalid request"}}"#.to_string(), "the server sent an error"),
        ];
        for (text, want) in cases {
            let e = parse(&text, "ws://x/stream message 7").unwrap_err().to_string();
            assert!(e.starts_with("ws://x/stream message 7: ") && e.contains(want), "{want:?} in {e}");
        }
        let long = format!("{}{}", CLOSED, " ".repeat(500)).replace(r#""v":"2449.049""#, r#""v":null"#);
        let e = parse(&long, "m").unwrap_err().to_string();
        assert!(e.contains("found null") && e.contains("bytes)") && e.len() < 400, "{e}");
    }
}
