//! Where the `"redis"` backend's time goes on the server: the commands a
//! run sent per delivery (`INFO commandstats`, before and after) and the
//! CPU the `redis-server` spent per 1,000 deliveries (`INFO cpu`).

use std::collections::BTreeMap;

use thorn_testkit::redis_server::RedisServer;

/// The server's counters at one moment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Profile {
    /// Calls per command (`cmdstat_xadd` → `xadd`).
    calls: BTreeMap<String, u64>,
    /// CPU seconds, user and system, of the server's main process.
    cpu: f64,
}

impl Profile {
    /// Reads the counters of `redis` now.
    pub(crate) async fn read(redis: &RedisServer) -> Profile {
        let Ok(client) = redis::Client::open(redis.url()) else {
            return Profile::default();
        };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return Profile::default();
        };
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        let cpu: String = redis::cmd("INFO")
            .arg("cpu")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        let mut profile = Profile::default();
        for line in stats.lines() {
            // cmdstat_xadd:calls=10,usec=…
            let Some((name, fields)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            let calls = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            profile.calls.insert(name.to_owned(), calls);
        }
        for line in cpu.lines() {
            if let Some((name, value)) = line.split_once(':') {
                if name == "used_cpu_user_main_thread" || name == "used_cpu_sys_main_thread" {
                    profile.cpu += value.trim().parse::<f64>().unwrap_or(0.0);
                }
            }
        }
        profile
    }

    /// Prints what happened between `self` and `later`, for `deliveries`
    /// deliveries: commands per delivery, each and in all (the profile's
    /// own `INFO` calls left out), and server CPU per 1,000.
    pub(crate) fn report(&self, later: &Profile, name: &str, deliveries: usize) {
        let n = deliveries.max(1) as f64;
        let mut total = 0.0;
        let mut each = Vec::new();
        for (cmd, calls) in &later.calls {
            if cmd == "info" {
                continue;
            }
            let made = calls.saturating_sub(self.calls.get(cmd).copied().unwrap_or(0));
            if made > 0 {
                total += made as f64;
                each.push(format!("{cmd} {:.3}", made as f64 / n));
            }
        }
        println!(
            "{name}: {:.3} Redis commands per delivery ({}); redis-server CPU {:.1} ms per 1,000 deliveries",
            total / n,
            each.join(", "),
            (later.cpu - self.cpu) * 1000.0 / n * 1000.0,
        );
    }
}
