use observe_runtime::observe;

#[observe(as_type = "llm")]
fn complete(prompt: &str) -> String {
    prompt.to_uppercase()
}

fn main() {
    complete("x");
}
