//! The queue and search benchmarks, run small against the Redis of
//! `REDIS_URL` (scripts/test.sh starts one) on the converted NAS-Bench-201
//! table: their figures are sane, the ratio is the last line, and nothing
//! is left under the run's prefix.

use bench::search::SearchBenchConfig;
use bench::throughput::QueueBenchConfig;
use bench::Target;
use queue::{QueueConfig, RedisUrl};
use std::time::Duration;

fn target(test: &str) -> Target {
    let url = std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set: run the tests through scripts/test.sh, which starts a private redis-server",
    );
    Target {
        url: RedisUrl::parse(&url).unwrap(),
        queue: QueueConfig {
            prefix: format!("test-{test}-{}", std::process::id()),
            ..QueueConfig::default()
        },
        connect_timeout: Duration::from_secs(5),
    }
}

/// Keys left under `prefix` and anything below it.
async fn keys_under(target: &Target, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(target.url.expose()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut con)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_benchmark_measures_the_whole_path_and_cleans_up() {
    let target = target("bench-queue");
    let config = QueueBenchConfig {
        jobs: 300,
        slots: 4,
        searches: 3,
        parallel: 16,
        latency_jobs: 20,
        nb201_dir: nb201::default_dir(),
        lpush_requests: 2_000,
        limit: Duration::from_secs(120),
    };
    let report = bench::throughput::run(&target, &config).await.unwrap();
    assert_eq!(report.jobs, 300);
    assert!(report.jobs_per_s > 0.0 && report.direct_jobs_per_s > 0.0);
    assert!(report.overhead.p50_ms <= report.overhead.p99_ms);
    assert!(report.latency.is_some_and(|l| l.p50_ms <= l.p99_ms));
    assert!(report.lpush_ops_per_s > 0.0);
    assert!(report.redis_cpu_s > 0.0);
    let text = report.to_string();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("ratio jobs/s / lpush ops/s: "),
        "{text}"
    );
    assert!(report.prefix.starts_with(&target.queue.prefix));
    assert_eq!(
        keys_under(&target, &target.queue.prefix).await,
        Vec::<String>::new()
    );
    assert_eq!(
        keys_under(&target, bench::lpush::LIST_KEY).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_benchmark_compares_strategies_with_random_search() {
    let target = target("bench-search");
    let config = SearchBenchConfig {
        space: space::SpaceKind::Nb201,
        dataset: nb201::Dataset::Cifar10,
        budget: 30,
        seeds: 3,
        seed_offset: 2,
        budgets: vec![10, 30],
        strategies: vec!["random".into(), "evolution".into()],
        parallel: 4,
        slots: 4,
        nb201_dir: nb201::default_dir(),
        limit: Duration::from_secs(120),
        ranker: None,
        regret: 0.3,
    };
    let report = bench::search::run(&target, &config).await.unwrap();
    assert_eq!(report.results.len(), 2);
    for r in &report.results {
        assert_eq!(r.quality.len(), 3);
        assert_eq!(r.to_regret.len(), 3);
        assert!(r.to_regret.iter().flatten().all(|n| *n >= 1 && *n <= 30));
        // Every answer is a cell of the table, at most as good as its best.
        assert!(r.quality.iter().all(|q| *q > 0.0 && *q <= report.optimum));
        // The pick after all 30 results is the search's answer; after 10
        // it is no better.
        let (at30, _) = r.at(30).unwrap();
        assert!((at30 - r.mean).abs() < 1e-9, "{at30} vs {}", r.mean);
        assert!(r.at(10).unwrap().0 <= at30 + 1e-9);
        assert!(r.curves.iter().all(|c| c.len() == 30));
    }
    let text = report.to_string();
    assert!(text.contains("seeds 2..4"), "{text}");
    assert!(text.contains("pick after"), "{text}");
    let curves = report.curves();
    assert_eq!(curves.curves.len(), 2);
    assert_eq!(curves.curves[0].points.last().unwrap().0, 30.0);
    assert!((report.optimum - 91.61).abs() < 0.01, "{}", report.optimum);
    let text = report.to_string();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("evolution lead over random: "),
        "{text}"
    );
    assert_eq!(
        keys_under(&target, &target.queue.prefix).await,
        Vec::<String>::new()
    );
}
