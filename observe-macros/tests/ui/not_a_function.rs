use observe_runtime::observe;

#[observe]
pub struct Agent {
    name: String,
}

trait Tool {
    #[observe]
    fn call(&self, input: &str) -> String;
}

#[observe]
const fn answer() -> u32 {
    42
}

fn main() {
    let _ = Agent { name: String::new() }.name;
    let _ = answer();
}
