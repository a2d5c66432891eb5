//! A tiny deterministic PRNG (xorshift64*): the runtime seeds it from `Math.random`,
//! tests seed it with constants, so back-off jitter is reproducible.

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Zero is xorshift's fixed point; any other constant works.
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_range_and_varies() {
        let mut r = Rng::new(0);
        let xs: Vec<u64> = (0..1000).map(|_| r.up_to(10)).collect();
        assert!(xs.iter().all(|&x| x <= 10));
        assert!((0..=10).all(|v| xs.contains(&v)));
        assert_eq!(Rng::new(7).next_u64(), Rng::new(7).next_u64());
        // The full range must not overflow.
        let _ = r.up_to(u64::MAX);
    }
}
