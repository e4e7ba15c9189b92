//! A request rate limit shared by every call to one framework: requests are spaced at
//! least `1 / requests_per_second` apart, and a 429 slows the whole connection.
//!
//! Contract:
//! - [`RateLimiter::acquire`] returns at the request's turn; callers take their bearer
//!   token only after it returns, so a token never ages while its request queues.
//! - [`RateLimiter::throttled`] (the framework answered 429) pauses every request of the
//!   connection until `Retry-After` (1 s without one) and halves the rate, down to one
//!   request per second at the slowest. Requests already waiting for a turn take a new
//!   one after the pause: none of them fires into the throttle.
//! - [`RateLimiter::succeeded`] brings the rate back towards the configured one, an
//!   eighth of the way per successful request.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Pause after a 429 without `Retry-After`.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// Slowest spacing a run of 429s leads to (unless the configured one is slower).
const SLOWEST_PERIOD: Duration = Duration::from_secs(1);

/// Spaces requests evenly.
pub struct RateLimiter {
    /// The configured spacing.
    base: Duration,
    state: Mutex<State>,
}

struct State {
    /// The next free turn.
    next: Instant,
    /// The current spacing: `base`, or longer after 429s.
    period: Duration,
    /// Counts the 429s: a turn taken before one is taken again.
    pauses: u64,
}

impl RateLimiter {
    /// At most `requests_per_second` (at least 1).
    pub fn new(requests_per_second: u32) -> Self {
        let base = Duration::from_secs(1) / requests_per_second.max(1);
        Self {
            base,
            state: Mutex::new(State {
                next: Instant::now(),
                period: base,
                pauses: 0,
            }),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        loop {
            let (at, pauses) = {
                let mut state = self.state.lock().expect("rate limiter lock");
                let at = state.next.max(Instant::now());
                state.next = at + state.period;
                (at, state.pauses)
            };
            tokio::time::sleep_until(at).await;
            if self.state.lock().expect("rate limiter lock").pauses == pauses {
                return;
            }
        }
    }

    /// The framework answered 429: pause the connection and halve its rate.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let mut state = self.state.lock().expect("rate limiter lock");
        let resume = Instant::now() + retry_after.unwrap_or(DEFAULT_PAUSE);
        state.next = state.next.max(resume);
        state.period = (state.period * 2).min(SLOWEST_PERIOD.max(self.base));
        state.pauses += 1;
    }

    /// A request succeeded: come back towards the configured rate.
    pub fn succeeded(&self) {
        let mut state = self.state.lock().expect("rate limiter lock");
        if state.period > self.base {
            let step = (state.period - self.base) / 8;
            state.period -= step;
            if state.period - self.base < Duration::from_micros(100) {
                state.period = self.base;
            }
        }
    }

    /// The current spacing of requests.
    pub fn period(&self) -> Duration {
        self.state.lock().expect("rate limiter lock").period
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_every_waiting_request_and_halves_the_rate() {
        let limiter = Arc::new(RateLimiter::new(10));
        let start = Instant::now();
        limiter.acquire().await;
        // Three requests queue for the turns at 100, 200 and 300 ms.
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move {
                    limiter.acquire().await;
                    start.elapsed()
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        limiter.throttled(Some(Duration::from_secs(2)));
        assert_eq!(limiter.period(), Duration::from_millis(200));
        let mut turns = Vec::new();
        for task in waiting {
            turns.push(task.await.unwrap());
        }
        turns.sort();
        // None before the pause ends (50 ms + 2 s), then spaced by the halved rate.
        assert_eq!(
            turns,
            [2050, 2250, 2450].map(Duration::from_millis).to_vec(),
            "{turns:?}"
        );
    }

    #[test]
    fn the_rate_slows_to_one_per_second_at_most_and_recovers_on_success() {
        let limiter = RateLimiter::new(100);
        for _ in 0..20 {
            limiter.throttled(None);
        }
        assert_eq!(limiter.period(), SLOWEST_PERIOD);
        let slow = RateLimiter::new(1);
        slow.throttled(None);
        assert_eq!(
            slow.period(),
            Duration::from_secs(1),
            "never slower than set"
        );
        for _ in 0..200 {
            limiter.succeeded();
        }
        assert_eq!(limiter.period(), Duration::from_millis(10));
    }
}
