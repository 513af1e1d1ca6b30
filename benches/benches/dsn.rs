//! Parsing a typical DSN, URI and keyword=value, with scrydon-byodb's libpq-exact parser and
//! with `tokio_postgres::Config::from_str`, on the same inputs. After criterion's report,
//! `cargo bench --bench dsn` prints each pair's ratio (ours / tokio-postgres).

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::Criterion;
use scrydon_byodb::dsn::Dsn;

const URI: &str = "postgresql://app:s3cr%40t@db.example.com:5432/auth\
                   ?sslmode=require&application_name=api&connect_timeout=10";
const KEYWORD_VALUE: &str = "host=db.example.com port=5432 user=app password='s3cr@t' \
                             dbname=auth sslmode=require application_name=api connect_timeout=10";
const INPUTS: [(&str, &str); 2] = [("uri", URI), ("keyword_value", KEYWORD_VALUE)];

fn ours(input: &str) -> bool {
    Dsn::parse(input).is_ok()
}

fn tokio_postgres(input: &str) -> bool {
    tokio_postgres::Config::from_str(input).is_ok()
}

fn bench(c: &mut Criterion) {
    for (name, input) in INPUTS {
        let mut group = c.benchmark_group(format!("dsn_parse/{name}"));
        group.bench_function("scrydon_byodb", |b| b.iter(|| ours(black_box(input))));
        group.bench_function("tokio_postgres", |b| {
            b.iter(|| tokio_postgres(black_box(input)))
        });
        group.finish();
    }
}

/// The fastest of a few rounds, per call: steadier than a mean on a shared machine.
fn per_call(parse: fn(&str) -> bool, input: &str) -> Duration {
    const CALLS: u32 = 20_000;
    (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CALLS {
                black_box(parse(black_box(input)));
            }
            start.elapsed() / CALLS
        })
        .min()
        .unwrap_or_default()
}

fn print_ratios() {
    for (name, input) in INPUTS {
        let a = per_call(ours, input);
        let b = per_call(tokio_postgres, input);
        println!(
            "dsn_parse/{name}: scrydon-byodb {a:?}, tokio-postgres {b:?} per parse; \
             ratio {:.2} (scrydon-byodb / tokio-postgres)",
            a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
        );
    }
}

fn main() {
    // Both parsers must accept the inputs, or the comparison measures error paths.
    for (name, input) in INPUTS {
        assert!(ours(input), "scrydon-byodb refuses the {name} input");
        assert!(
            tokio_postgres(input),
            "tokio-postgres refuses the {name} input"
        );
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs this binary without --bench: skip the timing there.
    if std::env::args().any(|a| a == "--bench") {
        print_ratios();
    }
}
