//! What the on-demand benchmarks (`#[ignore]`d tests run by `bench/*.sh`) share.

/// The `p`th percentile (0 < p <= 100) of `sorted` (ascending, not empty), by nearest rank:
/// the smallest sample with at least p% of the samples at or below it.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A benchmark parameter from the environment variable `name`, else `default` (also when it
/// does not parse).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let samples: Vec<u32> = (1..=200).collect();
        assert_eq!(percentile(&samples, 50.0), 100);
        assert_eq!(percentile(&samples, 99.0), 198);
        assert_eq!(percentile(&samples, 100.0), 200);
        assert_eq!(percentile(&[7], 1.0), 7);
        assert_eq!(percentile(&[1, 2, 3, 4], 25.0), 1);
    }
}
