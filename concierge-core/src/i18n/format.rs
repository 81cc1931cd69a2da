//! Numbers and money for people: CLDR's digit grouping through ICU4X (`icu_decimal` with its
//! compiled data), so `en-IN` shows `1,00,000` and `en-US` shows `100,000`.
//!
//! Money is the ledger's milli-units ([`Milli`](crate::ids::Milli)). Rounding is half-even
//! (to the nearest, a tie to the even neighbour: ICU's and CLDR's default, unbiased over many
//! amounts) on the magnitude, so it is symmetric around zero; an amount that rounds to zero
//! has no minus sign.

use icu_decimal::input::Decimal;
use icu_decimal::DecimalFormatter;
use icu_locale_core::{locale, Locale};

use super::UiLocale;

thread_local! {
    /// One formatter per shipped locale, in [`UiLocale::ALL`]'s order; `None` only if ICU4X
    /// had no data for it (a test checks that each loads). Per thread: ICU4X's data handles are
    /// not `Sync` without its `sync` feature, and the Worker has one thread anyway.
    static FORMATTERS: [Option<DecimalFormatter>; 3] = UiLocale::ALL.map(|ui| {
        let locale = icu_locale(ui);
        match DecimalFormatter::try_new((&locale).into(), Default::default()) {
            Ok(formatter) => Some(formatter),
            Err(error) => {
                tracing::error!(locale = %ui, %error, "i18n: no number formatting data");
                None
            }
        }
    });
}

fn icu_locale(ui: UiLocale) -> Locale {
    match ui {
        UiLocale::EnIn => locale!("en-IN"),
        UiLocale::EnUs => locale!("en-US"),
        UiLocale::HiIn => locale!("hi-IN"),
    }
}

fn format_decimal(ui: UiLocale, value: &Decimal) -> String {
    let index = UiLocale::ALL.iter().position(|l| *l == ui).unwrap_or(0);
    FORMATTERS.with(|formatters| match &formatters[index] {
        Some(formatter) => formatter.format_to_string(value),
        None => value.to_string(),
    })
}

/// `n` with the locale's digits and grouping: `1,00,000` (`en-IN`, `hi-IN`), `100,000`
/// (`en-US`); negative numbers get the locale's minus sign (`-1,00,000`).
pub fn format_count(locale: UiLocale, n: i64) -> String {
    format_decimal(locale, &Decimal::from(n))
}

/// `amount_milli` thousandths of `currency` (an ISO 4217 code, any case) as money in `locale`:
/// - `INR`: whole rupees after the `₹` sign: `₹1,00,000`;
/// - `USD`: two decimals after `$`: `$100,000.00`;
/// - any other code: the code, a no-break space and two decimals: `EUR 1,234.50`.
///
/// Grouping follows the locale (`$1,00,000.00` in `en-IN`). Rounding is half-even (module
/// docs); a negative amount shows its sign first: `-₹500`.
pub fn format_money(locale: UiLocale, currency: &str, amount_milli: i64) -> String {
    let code = currency.trim().to_ascii_uppercase();
    let magnitude = amount_milli.unsigned_abs();
    let (prefix, units, decimals) = match code.as_str() {
        "INR" => ("₹".to_owned(), round_half_even(magnitude, 1000), 0),
        "USD" => ("$".to_owned(), round_half_even(magnitude, 10), 2),
        _ => (format!("{code}\u{a0}"), round_half_even(magnitude, 10), 2),
    };
    let mut value = Decimal::from(units);
    value.multiply_pow10(-decimals);
    value.pad_end(-decimals);
    let sign = if amount_milli < 0 && units != 0 {
        "-"
    } else {
        ""
    };
    format!("{sign}{prefix}{}", format_decimal(locale, &value))
}

/// `n / unit` rounded to the nearest whole number, a tie to the even one (`unit` is even).
fn round_half_even(n: u64, unit: u64) -> u64 {
    let (quotient, remainder) = (n / unit, n % unit);
    let half = unit / 2;
    if remainder > half || (remainder == half && quotient % 2 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UiLocale::{EnIn, EnUs, HiIn};

    #[test]
    fn every_locale_has_number_data() {
        assert!(FORMATTERS.with(|f| f.iter().all(Option::is_some)));
    }

    #[test]
    fn counts_group_the_way_each_country_reads_them() {
        assert_eq!(format_count(EnIn, 100_000), "1,00,000");
        assert_eq!(format_count(EnIn, 12_345_678), "1,23,45,678");
        assert_eq!(format_count(EnUs, 100_000), "100,000");
        assert_eq!(format_count(EnUs, 12_345_678), "12,345,678");
        // CLDR: Hindi's default numbering system is Latin digits (`latn`; Devanagari is only
        // its "native" one), with Indian grouping.
        assert_eq!(format_count(HiIn, 100_000), "1,00,000");
        assert_eq!(format_count(HiIn, 12_345_678), "1,23,45,678");
    }

    #[test]
    fn small_negative_and_extreme_counts() {
        for locale in UiLocale::ALL {
            assert_eq!(format_count(locale, 0), "0");
            assert_eq!(format_count(locale, 999), "999");
        }
        assert_eq!(format_count(EnIn, 1000), "1,000");
        assert_eq!(format_count(EnIn, -100_000), "-1,00,000");
        assert_eq!(format_count(EnUs, -100_000), "-100,000");
        assert_eq!(format_count(EnUs, i64::MAX), "9,223,372,036,854,775,807");
        assert_eq!(format_count(EnUs, i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn rupees_are_whole_with_the_rupee_sign() {
        assert_eq!(format_money(EnIn, "INR", 100_000_000), "₹1,00,000");
        assert_eq!(format_money(HiIn, "INR", 100_000_000), "₹1,00,000");
        assert_eq!(format_money(EnUs, "INR", 100_000_000), "₹100,000");
        assert_eq!(format_money(EnIn, "inr", 0), "₹0");
    }

    #[test]
    fn dollars_have_cents() {
        assert_eq!(format_money(EnUs, "USD", 100_000_000), "$100,000.00");
        assert_eq!(format_money(EnUs, "USD", 0), "$0.00");
        assert_eq!(format_money(EnUs, "USD", 12_340), "$12.34");
        assert_eq!(format_money(EnUs, "USD", 5), "$0.00");
        assert_eq!(format_money(EnIn, "USD", 100_000_000), "$1,00,000.00");
    }

    #[test]
    fn other_currencies_show_their_code() {
        assert_eq!(format_money(EnUs, "EUR", 1_234_500), "EUR\u{a0}1,234.50");
        assert_eq!(
            format_money(EnIn, "gbp", 100_000_000),
            "GBP\u{a0}1,00,000.00"
        );
    }

    #[test]
    fn rounding_is_half_even_and_symmetric() {
        // rupees: .5 goes to the even rupee
        assert_eq!(format_money(EnIn, "INR", 499), "₹0");
        assert_eq!(format_money(EnIn, "INR", 500), "₹0");
        assert_eq!(format_money(EnIn, "INR", 501), "₹1");
        assert_eq!(format_money(EnIn, "INR", 1_500), "₹2");
        assert_eq!(format_money(EnIn, "INR", 2_500), "₹2");
        assert_eq!(format_money(EnIn, "INR", 2_501), "₹3");
        // cents: half a cent goes to the even cent
        assert_eq!(format_money(EnUs, "USD", 1_005), "$1.00");
        assert_eq!(format_money(EnUs, "USD", 1_015), "$1.02");
        assert_eq!(format_money(EnUs, "USD", 1_016), "$1.02");
        assert_eq!(format_money(EnUs, "USD", 1_014), "$1.01");
        // negative: the same magnitudes, sign first; nothing left means no sign
        assert_eq!(format_money(EnIn, "INR", -2_500), "-₹2");
        assert_eq!(format_money(EnIn, "INR", -2_501), "-₹3");
        assert_eq!(format_money(EnIn, "INR", -500), "₹0");
        assert_eq!(format_money(EnUs, "USD", -1_015), "-$1.02");
        assert_eq!(format_money(EnUs, "USD", -4), "$0.00");
        assert_eq!(format_money(EnIn, "INR", -100_000_000), "-₹1,00,000");
    }

    #[test]
    fn the_extremes_do_not_overflow() {
        assert_eq!(
            format_money(EnUs, "INR", i64::MAX),
            "₹9,223,372,036,854,776"
        );
        assert_eq!(
            format_money(EnUs, "INR", i64::MIN),
            "-₹9,223,372,036,854,776"
        );
        assert_eq!(
            format_money(EnUs, "USD", i64::MIN),
            "-$9,223,372,036,854,775.81"
        );
    }

    proptest::proptest! {
        #[test]
        fn money_never_panics_and_shows_its_digits(
            amount in proptest::num::i64::ANY,
            code in "[A-Za-z]{0,4}",
        ) {
            for locale in UiLocale::ALL {
                let shown = format_money(locale, &code, amount);
                proptest::prop_assert!(shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
            }
        }
    }
}
