//! Reconnect back-off: capped exponential with full jitter
//! (`delay = random(0 ..= min(max, base · 2^attempt))`), so a crowd of clients that
//! lost the same server spreads its retries instead of arriving together.

use super::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Backoff {
    /// The ceiling for retry number `attempt` (0-based).
    pub fn cap(&self, attempt: u32) -> u64 {
        let factor = 1u64 << attempt.min(32);
        self.base_ms.saturating_mul(factor).min(self.max_ms)
    }

    /// The delay before retry number `attempt`.
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> u64 {
        rng.up_to(self.cap(attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_doubles_until_the_maximum() {
        let b = Backoff {
            base_ms: 1000,
            max_ms: 30_000,
        };
        let caps: Vec<u64> = (0..8).map(|a| b.cap(a)).collect();
        assert_eq!(
            caps,
            vec![1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(b.cap(u32::MAX), 30_000);
        let huge = Backoff {
            base_ms: u64::MAX,
            max_ms: u64::MAX,
        };
        assert_eq!(huge.cap(40), u64::MAX);
    }

    #[test]
    fn jitter_is_full_and_bounded() {
        let b = Backoff {
            base_ms: 1000,
            max_ms: 30_000,
        };
        let mut rng = Rng::new(42);
        let ds: Vec<u64> = (0..2000).map(|_| b.delay(3, &mut rng)).collect();
        assert!(ds.iter().all(|&d| d <= 8000));
        assert!(
            ds.iter().any(|&d| d < 1000),
            "full jitter reaches near zero"
        );
        assert!(ds.iter().any(|&d| d > 7000), "and near the cap");
    }
}
