use observe_runtime::observe;

#[observe(capture_ouput = false)]
fn fetch(url: &str) -> usize {
    url.len()
}

fn main() {
    fetch("x");
}
