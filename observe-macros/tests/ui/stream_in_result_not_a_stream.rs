use observe_runtime::observe;

#[observe(stream = true)]
fn answer(ok: bool) -> Result<impl std::fmt::Display, String> {
    if ok {
        Ok(42)
    } else {
        Err("no".to_owned())
    }
}

fn main() {
    let _ = answer(true);
}
