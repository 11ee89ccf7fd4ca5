//! What the default `#[observe]` records for each kind of value, now that scalars and short
//! text are copied on the caller's thread and written as JSON by the worker: the same JSON
//! as serde_json writes, through the ring and through the heap (a capture too large for the
//! ring), masked and bounded like any other capture, and charged exactly against the byte
//! budget.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use observe_runtime::export::memory::InMemory;
use observe_runtime::model::{Json, Observation};
use observe_runtime::{observe, Client, Config};
use serde_json::{json, Value};

fn record_sync<R>(f: impl FnOnce() -> R) -> (R, Vec<Observation>) {
    let (client, memory) = Client::in_memory();
    let result = client.in_scope(f);
    client.flush(Duration::from_secs(5));
    (result, memory.observations())
}

fn named<'a>(observations: &'a [Observation], name: &str) -> &'a Observation {
    observations
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no observation `{name}` in {observations:#?}"))
}

fn input(o: &Observation) -> Value {
    o.details().input.as_ref().expect("an input").to_value()
}

fn output(o: &Observation) -> Value {
    o.details().output.as_ref().expect("an output").to_value()
}

#[observe]
#[allow(clippy::too_many_arguments)]
fn scalars(
    a: u8,
    b: i64,
    c: u128,
    d: i128,
    e: f32,
    f: f64,
    g: bool,
    h: char,
    i: usize,
    j: isize,
) -> f64 {
    let _ = (a, b, c, d, e, g, h, i, j);
    f * 2.0
}

#[observe]
fn borrowed_scalars(a: &u32, b: &mut i16, c: &&f64) -> i16 {
    *b += 1;
    *b + *a as i16 + **c as i16
}

#[test]
fn scalars_are_written_by_the_worker_as_serde_json_writes_them() {
    let (_, obs) = record_sync(|| {
        scalars(
            255,
            i64::MIN,
            u128::MAX,
            i128::MIN,
            0.1,
            2.5,
            true,
            'é',
            usize::MAX,
            -1,
        )
    });
    let o = named(&obs, "scalars");
    let captured = o.details().input.as_ref().unwrap().as_str().to_owned();
    assert_eq!(
        input(o),
        json!({
            "a": 255, "b": i64::MIN, "e": 0.1, "f": 2.5, "g": true, "h": "é",
            "i": usize::MAX, "j": -1,
            // serde_json's `Value` has no 128-bit numbers: compared as text below.
            "c": input(o)["c"], "d": input(o)["d"],
        })
    );
    // An `f32` in its own shortest form, as serde_json writes it (not widened to `f64`).
    let e = serde_json::to_string(&0.1f32).unwrap();
    assert!(captured.contains(&format!("\"e\":{e},")), "{captured}");
    assert!(
        captured.contains(&format!("\"c\":{}", u128::MAX)),
        "{captured}"
    );
    assert!(
        captured.contains(&format!("\"d\":{}", i128::MIN)),
        "{captured}"
    );
    assert_eq!(output(o), json!(5.0));

    let mut n = 4;
    let (_, obs) = record_sync(|| borrowed_scalars(&7, &mut n, &&1.5));
    let o = named(&obs, "borrowed_scalars");
    // Captured before the body ran.
    assert_eq!(input(o), json!({"a": 7, "b": 4, "c": 1.5}));
    assert_eq!(output(o), json!(13));
}

#[observe]
fn integers(a: i8, b: u16, c: i16, d: u32, e: i32, f: u64) -> i64 {
    i64::from(a) + i64::from(b) + i64::from(c) + i64::from(d) + i64::from(e) + f as i64
}

#[test]
fn every_primitive_kind_is_captured_as_the_very_text_serde_json_writes() {
    use serde_json::to_string as text;
    let (_, obs) = record_sync(|| integers(i8::MIN, u16::MAX, i16::MIN, u32::MAX, i32::MIN, 3));
    let o = named(&obs, "integers");
    let expected = format!(
        "{{\"a\":{},\"b\":{},\"c\":{},\"d\":{},\"e\":{},\"f\":3}}",
        text(&i8::MIN).unwrap(),
        text(&u16::MAX).unwrap(),
        text(&i16::MIN).unwrap(),
        text(&u32::MAX).unwrap(),
        text(&i32::MIN).unwrap(),
    );
    assert_eq!(o.details().input.as_ref().unwrap().as_str(), expected);
    let sum = i64::from(i8::MIN)
        + i64::from(u16::MAX)
        + i64::from(i16::MIN)
        + i64::from(u32::MAX)
        + i64::from(i32::MIN)
        + 3;
    assert_eq!(
        o.details().output.as_ref().unwrap().as_str(),
        text(&sum).unwrap()
    );

    let (_, obs) = record_sync(|| {
        scalars(
            7,
            -7,
            u128::MAX,
            i128::MIN,
            0.1,
            -2.5,
            false,
            '"',
            42,
            isize::MIN,
        )
    });
    let o = named(&obs, "scalars");
    let expected = format!(
        "{{\"a\":7,\"b\":-7,\"c\":{},\"d\":{},\"e\":{},\"f\":{},\"g\":false,\"h\":{},\"i\":42,\"j\":{}}}",
        text(&u128::MAX).unwrap(),
        text(&i128::MIN).unwrap(),
        text(&0.1f32).unwrap(),
        text(&-2.5f64).unwrap(),
        text(&'"').unwrap(),
        text(&isize::MIN).unwrap(),
    );
    assert_eq!(o.details().input.as_ref().unwrap().as_str(), expected);
    assert_eq!(
        o.details().output.as_ref().unwrap().as_str(),
        text(&-5.0f64).unwrap()
    );
}

#[observe]
fn not_a_number(x: f64) -> f32 {
    x as f32
}

#[test]
fn a_float_that_is_not_a_number_is_null_as_serde_json_writes_it() {
    let (_, obs) = record_sync(|| not_a_number(f64::NAN));
    let o = named(&obs, "not_a_number");
    assert_eq!(input(o), json!({"x": null}));
    assert_eq!(output(o), Value::Null);
}

#[observe]
fn texts<'a>(
    a: &'a str,
    b: String,
    c: &String,
    d: Cow<'a, str>,
    e: Box<str>,
    f: &mut String,
) -> &'a str {
    let _ = (b, c, d, e, f);
    a
}

#[test]
fn text_is_escaped_by_the_worker_as_serde_json_escapes_it() {
    let tricky = "a \"quote\", a \\ backslash,\n\t\u{0}\u{1f} controls, é, 😀";
    let mut f = String::from("mutable");
    let owned = String::from("by reference");
    let (returned, obs) = record_sync(|| {
        texts(
            tricky,
            tricky.to_owned(),
            &owned,
            Cow::Borrowed("cow"),
            "boxed".into(),
            &mut f,
        )
    });
    assert_eq!(returned, tricky);
    let o = named(&obs, "texts");
    assert_eq!(
        input(o),
        json!({"a": tricky, "b": tricky, "c": "by reference", "d": "cow", "e": "boxed", "f": "mutable"})
    );
    assert_eq!(output(o), json!(tricky));
    // The very text serde_json writes, byte for byte.
    let expected_output = serde_json::to_string(tricky).unwrap();
    assert_eq!(
        o.details().output.as_ref().unwrap().as_str(),
        expected_output
    );
}

#[observe]
fn mixed(query: &str, limit: u32, filter: Option<u32>, tags: Vec<&str>) -> (u32, String) {
    (
        limit,
        format!("{query}{}{}", filter.unwrap_or(0), tags.len()),
    )
}

#[test]
fn raw_and_serialized_values_mix_in_one_input_object() {
    let (_, obs) = record_sync(|| mixed("q", 3, Some(4), vec!["x", "y"]));
    let o = named(&obs, "mixed");
    assert_eq!(
        input(o),
        json!({"query": "q", "limit": 3, "filter": 4, "tags": ["x", "y"]})
    );
    assert_eq!(output(o), json!([3, "q42"]));
    // Key order is the parameters' order.
    assert_eq!(
        o.details().input.as_ref().unwrap().as_str(),
        r#"{"query":"q","limit":3,"filter":4,"tags":["x","y"]}"#
    );
}

#[observe]
fn large(first: &str, second: &str, n: u64) -> u64 {
    (first.len() + second.len()) as u64 + n
}

#[test]
fn a_capture_too_large_for_the_ring_is_written_on_the_heap_with_the_same_json() {
    // Each text is short enough to go raw, together they pass the ring's 2 KiB per record.
    let first = "a\"".repeat(500);
    let second = "b\n".repeat(500);
    let (client, memory) = Client::in_memory();
    client.in_scope(|| {
        for n in 0..3 {
            large(&first, &second, n);
        }
    });
    client.flush(Duration::from_secs(5));
    let obs = memory.observations();
    assert_eq!(obs.len(), 3);
    for (n, o) in obs.iter().enumerate() {
        assert_eq!(input(o), json!({"first": first, "second": second, "n": n}));
        assert_eq!(output(o), json!(2000 + n));
    }
    let stats = client.stats();
    assert_eq!(stats.exported, 3);
    assert_eq!(stats.dropped(), 0);
}

#[observe]
fn secret(password: &str, pin: u32) -> String {
    format!("{password}{pin}")
}

#[test]
fn the_mask_sees_the_json_the_worker_wrote() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen_by_mask = seen.clone();
    let memory = InMemory::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .config(&Config::new().mask(move |json: Json| {
            seen_by_mask.lock().unwrap().push(json.as_str().to_owned());
            Json::from_raw(json.as_str().replace("hunter2", "***").replace("1234", "0"))
        }))
        .build();
    client.in_scope(|| secret("hunter2", 1234));
    client.flush(Duration::from_secs(5));
    let obs = memory.observations();
    let o = named(&obs, "secret");
    assert_eq!(input(o), json!({"password": "***", "pin": 0}));
    assert_eq!(output(o), json!("***0"));
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|s| s == r#"{"password":"hunter2","pin":1234}"#),
        "the mask got {seen:?}"
    );
}

#[observe]
#[allow(clippy::too_many_arguments)]
fn zeros(a: u128, b: u128, c: u128, d: u128, e: u128, f: u128, g: u128, h: u128) -> u128 {
    a + b + c + d + e + f + g + h
}

#[test]
fn the_byte_budget_gets_back_exactly_what_raw_captures_were_charged() {
    // Each raw `u128` takes 18 bytes in the ring and its JSON (`0`) one. A budget of 256 KiB
    // holds a few hundred such records at a time; had the worker given back the JSON's
    // length rather than what was charged, ~150 bytes a record would leak and after a few
    // thousand records the queue would refuse them.
    let memory = InMemory::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .config(&Config::new().max_queue_bytes(256 * 1024))
        .build();
    for round in 0..40 {
        client.in_scope(|| {
            for _ in 0..100 {
                zeros(0, 0, 0, 0, 0, 0, 0, 0);
            }
        });
        let report = client.flush(Duration::from_secs(10));
        assert_eq!(report.stats.dropped(), 0, "round {round}: {report:?}");
    }
    let obs = memory.observations();
    assert_eq!(obs.len(), 40 * 100);
    assert_eq!(
        input(&obs[0]),
        json!({"a": 0, "b": 0, "c": 0, "d": 0, "e": 0, "f": 0, "g": 0, "h": 0})
    );
}
