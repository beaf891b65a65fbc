#!/usr/bin/env python3
"""Write fixtures/binance/kline_1h.jsonl: Binance USD-M futures combined-stream kline messages made from bundled bars.

No recording of the live stream can be fetched where the tests run (no internet), so the messages are generated in
the exact JSON of `wss://fstream.binance.com/stream?streams=btcusdt@kline_1h/ethusdt@kline_1h` from the rows of
data/btcusdt_perp_1h_2020.csv:

- BTCUSDT: rows 0 .. BARS-1 (2020-01-01 00:00 UTC on), the real bars;
- ETHUSDT: a stand-in, NOT ether prices: rows ETH_OFFSET .. ETH_OFFSET+BARS-1 of the same BTC file, re-stamped to
  the BTCUSDT hours (open time of row ETH_OFFSET+i := open time of row i), so the second symbol has a different
  series on the same clock.

Per hour and symbol the stream sends, as the live one does, updates of the open kline before the final one: an
opening tick (`"x": false`, o=h=l=c=open, no volume), a mid-hour update (`"x": false`, the hour's range, half the
volume) and the closed kline (`"x": true`, the row's values). Messages of the two symbols interleave by time.
Prices, volumes and counts are the CSV's values (prices with 2 decimals, volumes with 3, as fstream sends them), so a
bar parsed from a closed message equals the CSV row. Usage: python3 scripts/make_binance_fixtures.py fixtures/binance
"""
import csv
import json
import sys
from decimal import Decimal
from pathlib import Path

BARS = 96
ETH_OFFSET = 4380
HOUR_MS = 3_600_000


def fixed(text, places):
    q = Decimal(text).quantize(Decimal(1).scaleb(-places))
    assert q == Decimal(text), f"{text} has more than {places} decimals"
    return str(q)


def half(text, places):
    return str((Decimal(text) / 2).quantize(Decimal(1).scaleb(-places)))


def kline(symbol, t, row, stage, first_trade):
    """stage 0: opening tick, 1: mid-hour update, 2: closed kline."""
    o = fixed(row["open"], 2)
    if stage == 0:
        h = l = c = o
        v, q, n, vb, qb = "0.000", "0.00000", 0, "0.000", "0.00000"
    else:
        h, l, c = fixed(row["high"], 2), fixed(row["low"], 2), fixed(row["close"], 2)
        v, q, n = fixed(row["volume"], 3), fixed(row["quote_volume"], 5), int(row["trades"])
        vb, qb = fixed(row["taker_buy_base_volume"], 3), fixed(row["taker_buy_quote_volume"], 5)
        if stage == 1:
            v, q, n, vb, qb = half(v, 3), half(q, 5), n // 2, half(vb, 3), half(qb, 5)
    event_time = t + [137, HOUR_MS // 2, HOUR_MS + 11][stage]
    k = {
        "t": t,
        "T": t + HOUR_MS - 1,
        "s": symbol,
        "i": "1h",
        "f": first_trade,
        "L": first_trade + n - 1,
        "o": o,
        "c": c,
        "h": h,
        "l": l,
        "v": v,
        "n": n,
        "x": stage == 2,
        "q": q,
        "V": vb,
        "Q": qb,
        "B": "0",
    }
    data = {"e": "kline", "E": event_time, "s": symbol, "k": k}
    return {"stream": f"{symbol.lower()}@kline_1h", "data": data}


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/binance")
    root = Path(__file__).resolve().parent.parent
    with open(root / "data" / "btcusdt_perp_1h_2020.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    series = {"BTCUSDT": rows[:BARS], "ETHUSDT": rows[ETH_OFFSET : ETH_OFFSET + BARS]}
    first_trade = {"BTCUSDT": 200_000_000, "ETHUSDT": 100_000_000}
    lines = []
    for i in range(BARS):
        t = int(rows[i]["timestamp"])
        for stage in range(3):
            for symbol, s in series.items():
                lines.append(json.dumps(kline(symbol, t, s[i], stage, first_trade[symbol]), separators=(",", ":")))
        for symbol, s in series.items():
            first_trade[symbol] += int(s[i]["trades"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "kline_1h.jsonl").write_text("\n".join(lines) + "\n")
    print(f"{out / 'kline_1h.jsonl'}: {len(lines)} messages, {BARS} closed bars per symbol")


if __name__ == "__main__":
    main()
