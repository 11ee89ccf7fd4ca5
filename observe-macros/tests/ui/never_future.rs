use observe_runtime::observe;

#[observe]
async fn serve_forever(port: u16) -> ! {
    loop {
        let _ = port;
    }
}

fn main() {
    let _ = serve_forever(80);
}
