use observe_runtime::observe;

#[observe(stream = true)]
fn answer() -> Vec<String> {
    vec!["42".to_owned()]
}

fn main() {
    println!("{:?}", answer());
}
