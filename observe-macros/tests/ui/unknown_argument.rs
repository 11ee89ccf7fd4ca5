use observe_runtime::observe;

#[observe(nmae = "fetch")]
fn fetch(url: &str) -> usize {
    url.len()
}

#[observe(sampled = false)]
fn store(url: &str) -> usize {
    url.len()
}

fn main() {
    fetch("x");
    store("x");
}
