use observe_runtime::observe;

struct Client;

#[observe(skip(clinet))]
fn fetch(client: &Client, url: &str) -> usize {
    let _ = client;
    url.len()
}

#[observe(skip(self))]
fn free(url: &str) -> usize {
    url.len()
}

fn main() {
    fetch(&Client, "x");
    free("x");
}
