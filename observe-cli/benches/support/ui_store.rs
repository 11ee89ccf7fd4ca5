//! The `ui` and `dashboard` benches' server: the 1M-observation store of [`crate::store_1m`]
//! served over loopback.

use observe_cli::ui::UiServer;

/// Serves the store over loopback from a thread of its own; the API's base URL and a
/// client for it.
pub fn serve() -> (String, reqwest::blocking::Client) {
    let db = crate::store_1m::store();
    let server = UiServer::bind("127.0.0.1:0".parse().unwrap(), &db).expect("serving the store");
    let api = format!("{}api", server.url());
    std::thread::spawn(move || server.run());
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    (api, client)
}
