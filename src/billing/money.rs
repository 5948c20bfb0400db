//! Money: integer minor units with an ISO 4217 currency. Amounts typed by people are parsed
//! exactly (no floating point); line amounts are quantity × unit price computed with
//! `rust_decimal` and rounded half-up to minor units, once per line.

use rust_decimal::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

/// A currency Keel can bill in, with its minor-unit exponent and symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    /// ISO 4217 code.
    pub code: &'static str,
    /// Digits after the decimal point (USD 2, JPY 0).
    pub exponent: u32,
    /// Symbol shown before amounts.
    pub symbol: &'static str,
}

/// Supported currencies.
pub const CURRENCIES: [Currency; 8] = [
    Currency { code: "USD", exponent: 2, symbol: "$" },
    Currency { code: "CAD", exponent: 2, symbol: "CA$" },
    Currency { code: "EUR", exponent: 2, symbol: "€" },
    Currency { code: "GBP", exponent: 2, symbol: "£" },
    Currency { code: "AUD", exponent: 2, symbol: "A$" },
    Currency { code: "NZD", exponent: 2, symbol: "NZ$" },
    Currency { code: "CHF", exponent: 2, symbol: "CHF " },
    Currency { code: "JPY", exponent: 0, symbol: "¥" },
];

/// The currency with this code (case-insensitive).
pub fn currency(code: &str) -> Option<Currency> {
    let code = code.trim().to_ascii_uppercase();
    CURRENCIES.into_iter().find(|c| c.code == code)
}

/// Parses an amount typed by a person ("12,400.00", "$980", "0.5") into minor units.
/// Refuses more decimals than the currency has, and anything that is not a number.
pub fn parse_minor(input: &str, cur: Currency) -> Result<i64, String> {
    let cleaned: String = input
        .trim()
        .trim_start_matches(cur.symbol.trim())
        .chars()
        .filter(|c| *c != ',' && *c != ' ')
        .collect();
    if cleaned.is_empty() {
        return Err("Enter an amount.".into());
    }
    let d =
        Decimal::from_str(&cleaned).map_err(|_| format!("Enter an amount like 12,400.00 ({}).", cur.code))?;
    if d.scale() > cur.exponent {
        return Err(format!("{} amounts have at most {} decimal places.", cur.code, cur.exponent));
    }
    to_minor(d, cur).ok_or_else(|| "That amount is too large.".to_string())
}

/// A decimal amount in major units to minor units, rounded half-up (away from zero at .5).
pub fn to_minor(d: Decimal, cur: Currency) -> Option<i64> {
    let scaled = d.checked_mul(Decimal::from(10i64.checked_pow(cur.exponent)?))?;
    scaled.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero).to_i64()
}

/// quantity × unit price, rounded half-up to minor units (the one rounding of a line).
pub fn line_amount(quantity: Decimal, unit_price: Decimal, cur: Currency) -> Option<i64> {
    to_minor(quantity.checked_mul(unit_price)?, cur)
}

/// Formats minor units with the currency: `$12,400.00`, `-$5.00`, `¥1,200`.
pub fn format(minor: i64, cur: Currency) -> String {
    let neg = minor < 0;
    let abs = minor.unsigned_abs();
    let div = 10u64.pow(cur.exponent);
    let (whole, frac) = (abs / div, abs % div);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let frac = if cur.exponent > 0 {
        format!(".{:0width$}", frac, width = cur.exponent as usize)
    } else {
        String::new()
    };
    format!("{}{}{grouped}{frac}", if neg { "-" } else { "" }, cur.symbol)
}

/// A unit price for display: at least the currency's decimals (38.8 -> "38.80"), more when
/// the price has sub-cent precision (0.125 stays "0.125").
pub fn format_unit_price(d: Decimal, cur: Currency) -> String {
    let mut d = d.normalize();
    if d.scale() < cur.exponent {
        d.rescale(cur.exponent);
    }
    d.to_string()
}

/// Formats with the code as well, for documents: `USD 12,400.00`.
pub fn format_with_code(minor: i64, cur: Currency) -> String {
    // Not `minor.abs()`: that overflows for i64::MIN, which `parse_minor` can return.
    let f = format(minor, cur);
    let number = f.trim_start_matches('-').trim_start_matches(cur.symbol);
    format!("{}{} {number}", if minor < 0 { "-" } else { "" }, cur.code)
}

/// Plain decimal text for exports: `12400.00`, `-5.00`, `1200` (no symbol, no grouping).
pub fn plain(minor: i64, cur: Currency) -> String {
    let div = 10u64.pow(cur.exponent);
    let abs = minor.unsigned_abs();
    let sign = if minor < 0 { "-" } else { "" };
    if cur.exponent == 0 {
        return format!("{sign}{abs}");
    }
    format!("{sign}{}.{:0width$}", abs / div, abs % div, width = cur.exponent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_amounts_for_exports() {
        let usd = currency("USD").unwrap();
        assert_eq!(plain(1_240_000, usd), "12400.00");
        assert_eq!(plain(-500, usd), "-5.00");
        assert_eq!(plain(1200, currency("JPY").unwrap()), "1200");
    }

    fn usd() -> Currency {
        CURRENCIES[0]
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_minor("12,400.00", usd()), Ok(1_240_000));
        assert_eq!(parse_minor("$980", usd()), Ok(98_000));
        assert_eq!(parse_minor("0.5", usd()), Ok(50));
        assert!(parse_minor("1.005", usd()).is_err());
        assert!(parse_minor("abc", usd()).is_err());
        assert!(parse_minor("", usd()).is_err());
        assert_eq!(parse_minor("1200", currency("jpy").unwrap_or(usd())), Ok(1200));
    }

    #[test]
    fn lines_round_half_up_once() {
        let q = Decimal::from_str("3").unwrap_or_default();
        let p = Decimal::from_str("0.125").unwrap_or_default();
        assert_eq!(line_amount(q, p, usd()), Some(38), "0.375 -> 0.38");
        let q = Decimal::from_str("1").unwrap_or_default();
        let p = Decimal::from_str("0.005").unwrap_or_default();
        assert_eq!(line_amount(q, p, usd()), Some(1));
        let p = Decimal::from_str("0.0049").unwrap_or_default();
        assert_eq!(line_amount(q, p, usd()), Some(0));
    }

    #[test]
    fn formats() {
        assert_eq!(format(1_240_000, usd()), "$12,400.00");
        assert_eq!(format(-500, usd()), "-$5.00");
        assert_eq!(format(5, usd()), "$0.05");
        assert_eq!(format_with_code(1_240_000, usd()), "USD 12,400.00");
        assert_eq!(format_with_code(-500, usd()), "-USD 5.00");
        let min = parse_minor("-92,233,720,368,547,758.08", usd());
        assert_eq!(min, Ok(i64::MIN));
        assert_eq!(format_with_code(i64::MIN, usd()), "-USD 92,233,720,368,547,758.08");
        assert_eq!(format_with_code(-1_200, currency("CHF").unwrap_or(usd())), "-CHF 12.00");
        assert_eq!(format(1_200, currency("JPY").unwrap_or(usd())), "¥1,200");
        assert_eq!(format_unit_price(Decimal::new(388, 1), usd()), "38.80");
        assert_eq!(format_unit_price(Decimal::new(125, 3), usd()), "0.125");
    }
}
