use observe_runtime::observe;

#[observe(name = "first", as_type = "tool", name = "second")]
fn fetch(url: &str) -> usize {
    url.len()
}

#[observe(skip(a), skip(b))]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

fn main() {
    fetch("x");
    add(1, 2);
}
