//! How every view shows money: one rule for the session and trace trees, the command's
//! tables, `observe query` results and `observe ui` (whose `app.js` keeps the same rule in
//! its `fmtCost`, checked against this function by the browser tests).
//!
//! - No cost, a cost of zero, or a value that is not a number shows **nothing**: a column of
//!   `$0.00` hides the few rows that cost something.
//! - From one dollar up: cents, `$1.23`, `$1520.40`.
//! - Below one dollar: three significant digits, never fewer than two decimals, trailing
//!   zeros dropped: `$0.50`, `$0.23`, `$0.0056`, `$0.00012`, `$0.0123`. LLM calls cost
//!   fractions of a cent, and rounding them to cents (or to four decimals) shows two different
//!   costs, or a parent and its child, as the same figure.
//! - No marker for costs observe computed from usage: the JSON outputs say which were
//!   (`cost_computed`), and `observe trace` and the UI's observation detail say so in words.
//!
//! ```
//! use observe_model::money::format_usd;
//! assert_eq!(format_usd(1.2345).as_deref(), Some("$1.23"));
//! assert_eq!(format_usd(0.0056).as_deref(), Some("$0.0056"));
//! assert_eq!(format_usd(0.00012).as_deref(), Some("$0.00012"));
//! assert_eq!(format_usd(0.0), None);
//! ```

/// Significant digits shown below one dollar.
const SIGNIFICANT: i32 = 3;

/// A cost in US dollars as the views show it, or `None` when there is nothing to show (no
/// cost, zero, NaN or infinite). See the [module](self) for the rule.
///
/// ```
/// use observe_model::money::format_usd;
/// assert_eq!(format_usd(0.23).as_deref(), Some("$0.23"));
/// assert_eq!(format_usd(0.2536).as_deref(), Some("$0.254"));
/// assert_eq!(format_usd(0.011_2).as_deref(), Some("$0.0112"));
/// assert_eq!(format_usd(12.0).as_deref(), Some("$12.00"));
/// assert_eq!(format_usd(-0.5).as_deref(), Some("-$0.50"));
/// assert_eq!(format_usd(f64::NAN), None);
/// ```
pub fn format_usd(usd: f64) -> Option<String> {
    if !usd.is_finite() || usd == 0.0 {
        return None;
    }
    let sign = if usd < 0.0 { "-" } else { "" };
    let amount = usd.abs();
    let decimals = if amount >= 1.0 {
        2
    } else {
        let magnitude = amount.log10().floor() as i32;
        (SIGNIFICANT - 1 - magnitude).max(2)
    };
    let text = format!("{amount:.prec$}", prec = decimals as usize);
    Some(format!("{sign}${}", trim_zeros(&text)))
}

/// Trailing zeros dropped down to two decimals: `0.00560` to `0.0056`, `1.000` to `1.00`.
fn trim_zeros(text: &str) -> &str {
    let Some(point) = text.find('.') else {
        return text;
    };
    let keep = point + 3;
    let trimmed = text.trim_end_matches('0');
    if trimmed.len() < keep {
        &text[..keep.min(text.len())]
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::format_usd;

    fn shown(usd: f64) -> String {
        format_usd(usd).unwrap_or_default()
    }

    #[test]
    fn small_costs_stay_apart() {
        assert_eq!(shown(0.0056), "$0.0056");
        assert_eq!(shown(0.0112), "$0.0112");
        assert_eq!(shown(0.00012), "$0.00012");
        assert_eq!(shown(0.000_505), "$0.000505");
        assert_eq!(shown(0.000_000_3), "$0.0000003");
        assert_ne!(shown(0.0056), shown(0.0057));
    }

    #[test]
    fn dollars_show_cents() {
        assert_eq!(shown(1.23), "$1.23");
        assert_eq!(shown(1.0), "$1.00");
        assert_eq!(shown(1520.4), "$1520.40");
        assert_eq!(shown(0.5), "$0.50");
        assert_eq!(shown(0.1), "$0.10");
    }

    #[test]
    fn rounding_up_to_a_dollar_keeps_two_decimals() {
        assert_eq!(shown(0.99999), "$1.00");
        assert_eq!(shown(0.000_999_99), "$0.001");
    }

    #[test]
    fn nothing_is_shown_without_a_cost() {
        assert_eq!(format_usd(0.0), None);
        assert_eq!(format_usd(-0.0), None);
        assert_eq!(format_usd(f64::INFINITY), None);
        assert_eq!(format_usd(f64::NAN), None);
    }

    #[test]
    fn never_a_tilde_or_an_exponent() {
        for usd in [1e-12, 3.5e-9, 0.25, 7e6] {
            let text = shown(usd);
            assert!(text.starts_with('$'), "{text}");
            assert!(!text.contains(['~', 'e']), "{text}");
        }
    }
}
