//! A request rate limit shared by every call to one framework: requests are spaced at
//! least `1 / requests_per_second` apart.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces requests evenly.
pub struct RateLimiter {
    period: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// At most `requests_per_second` (at least 1).
    pub fn new(requests_per_second: u32) -> Self {
        Self {
            period: Duration::from_secs(1) / requests_per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let at = {
            let mut next = self.next.lock().expect("rate limiter lock");
            let at = (*next).max(Instant::now());
            *next = at + self.period;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_period() {
        let limiter = RateLimiter::new(4);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
    }
}
