//! DataManager's history and the store hold every closed candle as soon as anyone asks, even
//! while the batch that closed it is still on its way through the strategies: batches sent
//! without awaiting DataManager's answers leave the same history and rows as awaited ones.

mod common;

use actors::feed::replay::read_file;
use alphastocks::system::{Engine, EngineOptions};
use messages::msg::*;
use messages::{Candle, SymbolId, Timeframe};

/// Feeds the sample in chunks of 97 bars — each one awaited, or all sent without awaiting —
/// then asks for the history at once: (closed candles, candles closed, candle rows stored).
fn feed(dir: &std::path::Path, awaited: bool) -> (Vec<Candle>, u64, i64) {
    let (closed, stats) = actix::System::new().block_on(async {
        let data = read_file(&common::sample()).unwrap();
        let engine = Engine::start(EngineOptions {
            persist_candles: true,
            ..common::nifty_engine(common::config_in(dir))
        })
        .unwrap();
        for chunk in data.bars.chunks(97) {
            let msg = BarsReceived {
                symbol: SymbolId(0),
                bar_secs: data.bar_secs,
                bars: chunk.to_vec(),
            };
            if awaited {
                engine.feed().send(msg).await.unwrap();
            } else {
                engine.feed().do_send(msg);
            }
        }
        // Right behind the last batch in DataManager's mailbox.
        let closed = engine
            .data
            .send(GetCandles {
                symbol: SymbolId(0),
                timeframe: Timeframe::Minute15,
            })
            .await
            .unwrap()
            .closed;
        let stats = engine.data.send(GetDataStats).await.unwrap();
        engine.drain().await.unwrap();
        engine.shutdown().await;
        (closed, stats)
    });
    let db = dir.join("data").join("alphastocks.db");
    (
        closed,
        stats.candles_closed,
        common::count(&db, "historical_data"),
    )
}

#[test]
fn every_closed_candle_is_in_the_history_and_the_store_whenever_asked() {
    let bars = read_file(&common::sample()).unwrap().bars;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (closed, n, stored) = feed(a.path(), true);
    // 15-minute bars at 15 minutes: every bar is a candle, closed as it comes.
    assert_eq!(n, bars.len() as u64);
    assert_eq!(stored, bars.len() as i64);
    assert_eq!(closed.len(), bars.len().min(1000));
    let last = bars.last().unwrap();
    assert_eq!(
        closed.last().map(|c| (c.ts, c.close)),
        Some((last.ts, last.close))
    );
    assert!(closed.windows(2).all(|w| w[0].ts < w[1].ts));
    // Sent without waiting for DataManager's answers: the same history, the same rows.
    let (unawaited, n2, stored2) = feed(b.path(), false);
    assert_eq!(
        (unawaited.len(), unawaited.last().map(|c| c.ts), n2, stored2),
        (closed.len(), closed.last().map(|c| c.ts), n, stored)
    );
    assert!(unawaited == closed, "the histories differ");
}
