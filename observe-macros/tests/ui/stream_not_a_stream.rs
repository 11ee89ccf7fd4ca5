use observe_runtime::observe;

#[observe(stream = true)]
fn answer() -> impl std::fmt::Display {
    42
}

fn main() {
    println!("{}", answer());
}
