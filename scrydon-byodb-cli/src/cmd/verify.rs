//! `scrydon-byodb verify`: prove the switch per component with the DSN the app itself uses.

use std::path::PathBuf;

use clap::Args;
use scrydon_byodb::catalog::Component;
use scrydon_byodb::report::{Finding, Status};
use scrydon_byodb::verify::kube::{verify_cluster, KubeTarget};
use scrydon_byodb::verify::{dsn_from_file, dsns_from_dir, verify, VerifyOptions};
use scrydon_byodb::Error;
use serde::Serialize;

use crate::{output, Outcome};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// A component's DSN file: COMPONENT=PATH (repeatable), e.g. auth=./out/secrets/auth.dsn.
    #[arg(long = "dsn-file", value_name = "COMPONENT=PATH")]
    dsn_files: Vec<String>,
    /// A `render` output directory: reads secrets/<app>.dsn for every component that has one.
    #[arg(long = "from", value_name = "DIR")]
    from: Option<PathBuf>,
    /// Also check the cluster through this kubeconfig's current context (token auth): no `db`
    /// Deployment, migration Jobs Complete, Deployments Ready, their DSNs on the managed host.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The namespace for the --kubeconfig checks.
    #[arg(long, default_value = "scrydon-platform")]
    namespace: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Output<'a> {
    ok: bool,
    findings: &'a [Finding],
}

pub(crate) fn run(args: VerifyArgs) -> Outcome {
    let options = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            output::error(args.json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    let Some(runtime) = output::runtime(args.json) else {
        return Outcome::Failed;
    };
    let kube = match &args.kubeconfig {
        Some(path) => match KubeTarget::from_kubeconfig(path, &args.namespace) {
            Ok(t) => Some(t),
            Err(e) => {
                output::error(args.json, "invalid_input", &e);
                return Outcome::InvalidInput;
            }
        },
        None => None,
    };
    let components: Vec<Component> = options.components().collect();
    let findings = runtime.block_on(async {
        let mut findings = verify(&options).await;
        if let Some(t) = &kube {
            findings.extend(verify_cluster(t, &components).await);
        }
        findings
    });
    let ok = Status::worst(&findings) != Status::Fail;
    if args.json {
        output::json(&Output {
            ok,
            findings: &findings,
        });
    } else {
        for f in &findings {
            let c = f.component.map(|c| c.to_string()).unwrap_or_default();
            println!(
                "{:<5} {:<10} {:<18} {}",
                f.status.label(),
                c,
                f.id,
                f.observed
            );
            if f.status == Status::Fail && !f.remediation.is_empty() {
                println!("      fix: {}", f.remediation);
            }
            if let Some(d) = f.diagnosis {
                println!("      diagnosis: {d}");
            }
        }
    }
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}

fn options(args: &VerifyArgs) -> Result<VerifyOptions, Error> {
    let mut options = VerifyOptions::new();
    if let Some(dir) = &args.from {
        for (c, dsn) in dsns_from_dir(dir)? {
            options = options.with_component(c, dsn);
        }
    }
    for spec in &args.dsn_files {
        let (c, path) = spec.split_once('=').ok_or_else(|| Error::InvalidInput {
            field: "--dsn-file".into(),
            value: spec.clone(),
            reason: "expected COMPONENT=PATH".into(),
        })?;
        let c: Component = c.parse()?;
        options = options.with_component(c, dsn_from_file(path.as_ref())?);
    }
    if options.components().next().is_none() {
        return Err(Error::InvalidInput {
            field: "--dsn-file/--from".into(),
            value: String::new(),
            reason: "no component DSN given: pass --from DIR or --dsn-file COMPONENT=PATH".into(),
        });
    }
    Ok(options)
}
