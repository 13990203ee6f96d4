//! Token buckets for MAX_UPDATES_PER_SECOND and MAX_CREATES_PER_MINUTE.

use std::time::{Duration, Instant};

/// A token bucket holding at most `rate` tokens, refilled at `rate` per `period`. A rate of 0 is unlimited.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` tokens per `period`; 0 = unlimited.
    pub fn new(rate: u32, period: Duration) -> Self {
        TokenBucket {
            rate: f64::from(rate),
            per_sec: f64::from(rate) / period.as_secs_f64(),
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.rate);
        self.last = now;
    }

    /// Take a token if one is available.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token will be available (now if one is).
    pub fn next_token_at(&mut self, now: Instant) -> Instant {
        if self.rate == 0.0 {
            return now;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_rate_then_refills_over_the_period() {
        let mut b = TokenBucket::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        let at = b.next_token_at(t0);
        assert!(at > t0 + Duration::from_secs(19) && at <= t0 + Duration::from_secs(21));
        assert!(b.try_take(t0 + Duration::from_secs(21)));
    }

    #[test]
    fn zero_means_unlimited() {
        let mut b = TokenBucket::new(0, Duration::from_secs(1));
        assert!((0..10_000).all(|_| b.try_take(Instant::now())));
    }
}
