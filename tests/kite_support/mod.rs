//! What the tests against a local stand-in of Kite share: the instrument dumps and their
//! mounts, the history and quotes ([`market`]), a scripted KiteTicker ([`ticker`]), and the
//! engine binary aimed at the stand-in.
#![allow(dead_code)]

pub mod market;
pub mod ticker;

use std::process::Command;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The NSE dump: the NIFTY 50 index only.
pub const NSE_DUMP: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE\n";

/// An NFO dump of one strike (24000 CE and PE, tokens 20001/20002) expiring in 3 days.
pub fn nfo_dump_one_strike() -> String {
    let e = chrono::Utc::now().date_naive() + chrono::Duration::days(3);
    let mut s = String::from("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n");
    for (i, t) in ["CE", "PE"].iter().enumerate() {
        s.push_str(&format!(
            "{},{},NIFTYX24000{t},NIFTY,0,{e},24000,0.05,75,{t},NFO-OPT,NFO\n",
            20_001 + i,
            80 + i
        ));
    }
    s
}

/// Mounts `GET /instruments/NFO` answering `nfo` and `GET /instruments/NSE` answering
/// [`NSE_DUMP`].
pub async fn mount_instruments(s: &MockServer, nfo: String) {
    for (p, body) in [
        ("/instruments/NFO", nfo),
        ("/instruments/NSE", NSE_DUMP.to_string()),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(s)
            .await;
    }
}

pub const KEY: &str = "kitetestkey42";
pub const TOKEN: &str = "accesstokenSECRET99";

/// The engine binary aimed at the Kite server `uri`, with test credentials.
pub fn engine_at(uri: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .env("RUST_LOG", "info")
        .env("KITE_BASE_URL", uri)
        .env("KITE_API_KEY", KEY)
        .env("KITE_ACCESS_TOKEN", TOKEN)
        // The scripted trading day is today, whatever the calendar says of the machine's date
        // (a weekend, a holiday): tests of the calendar itself remove this.
        .env("ALPHASTOCKS_IGNORE_CALENDAR", "1");
    c
}
