//! Parsers and checks of settings' values, for [`Setting`](super::Setting)
//! declarations of core and of backends alike. Each returns the reason a
//! value is refused; the setting adds the variable and the value.

use std::path::PathBuf;
use std::time::Duration;

/// The shortest duration a setting takes: shorter ones cannot be kept by a
/// timer and, as timeouts, would fail every attempt.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// The longest duration a setting takes: one day.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off`, in any case.
pub fn boolean(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false (also 1/0, yes/no, on/off)".into()),
    }
}

/// A whole number.
pub fn count(text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| "expected a whole number such as 10".into())
}

/// Whether `n` lies in `min..=max`.
pub fn within(n: usize, min: usize, max: usize) -> Result<(), String> {
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(format!("expected a whole number from {min} to {max}"))
    }
}

/// A whole number from `MIN` to `MAX`, for settings whose range is part
/// of their syntax (`parse::count_in::<1, 10>`).
pub fn count_in<const MIN: usize, const MAX: usize>(text: &str) -> Result<usize, String> {
    count(text).and_then(|n| within(n, MIN, MAX).map(|()| n))
}

/// A duration: seconds (`3`, `0.5`) or a number with `ms`, `s` or `m`.
/// Pair it with [`duration_range`].
pub fn duration(text: &str) -> Result<Duration, String> {
    const HOW: &str = "give a duration such as 3, 0.5, 250ms, 10s or 2m, from 1ms to 24h";
    let (num, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("it is not a number; {HOW}"))?;
    let secs = x * scale;
    if !secs.is_finite() || secs > MAX_DURATION.as_secs_f64() {
        return Err(format!("it is longer than one day; {HOW}"));
    }
    if secs < MIN_DURATION.as_secs_f64() {
        return Err(format!("it is shorter than 1 ms; {HOW}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `d` brought within [`MIN_DURATION`] and [`MAX_DURATION`]: for a
/// duration that did not come through a setting's check (an event's own
/// timeout, one read back from a queue), so that no wait is endless or
/// zero.
///
/// ```
/// use std::time::Duration;
/// use thorn_core::config::parse::{MAX_DURATION, clamp_duration};
/// assert_eq!(clamp_duration(Duration::MAX), MAX_DURATION);
/// assert_eq!(clamp_duration(Duration::ZERO), Duration::from_millis(1));
/// ```
pub fn clamp_duration(d: Duration) -> Duration {
    d.clamp(MIN_DURATION, MAX_DURATION)
}

/// Whether a duration lies between [`MIN_DURATION`] and [`MAX_DURATION`].
pub fn duration_range(d: &Duration) -> Result<(), String> {
    if (MIN_DURATION..=MAX_DURATION).contains(d) {
        Ok(())
    } else {
        Err("give a duration from 1ms to 24h".into())
    }
}

/// Any text.
pub fn text(text: &str) -> Result<String, String> {
    Ok(text.to_owned())
}

/// A path, or none when empty.
pub fn path(text: &str) -> Result<Option<PathBuf>, String> {
    Ok((!text.is_empty()).then(|| PathBuf::from(text)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{MIN_DURATION, boolean, count, duration, duration_range, within};

    #[test]
    fn durations_from_1ms_to_a_day() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1ms"), Ok(MIN_DURATION));
        for bad in ["0", "1e-10", "0.5ms", "-1", "NaN", "inf", "1e300", "soon"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert!(duration_range(&Duration::from_nanos(10)).is_err());
        assert!(duration_range(&Duration::from_secs(86_401)).is_err());
    }

    #[test]
    fn booleans_and_counts() {
        assert_eq!(boolean("On"), Ok(true));
        assert_eq!(boolean("0"), Ok(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(count("12"), Ok(12));
        assert!(count("-1").is_err());
        assert!(within(0, 1, 10).is_err());
        assert!(within(10, 1, 10).is_ok());
    }
}
