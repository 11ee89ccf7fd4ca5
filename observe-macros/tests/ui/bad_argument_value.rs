use observe_runtime::observe;

#[observe(name = fetch)]
fn fetch(url: &str) -> usize {
    url.len()
}

#[observe(capture_input = "no")]
fn login(password: &str) -> bool {
    password.is_empty()
}

#[observe(name = "")]
fn anonymous() {}

#[observe(skip(a::b))]
fn path(b: u8) -> u8 {
    b
}

fn main() {
    fetch("x");
    login("x");
    anonymous();
    path(1);
}
