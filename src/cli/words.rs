//! Counts in messages, with the noun in the number it takes ("1 event",
//! "2 events", "0 retries").

/// `n` and the noun: `one` for 1, `many` otherwise.
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_many() {
        assert_eq!(count(1, "retry", "retries"), "1 retry");
        assert_eq!(count(0, "retry", "retries"), "0 retries");
        assert_eq!(count(2, "event", "events"), "2 events");
    }
}
