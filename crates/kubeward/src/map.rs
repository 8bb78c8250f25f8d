//! `kubeward map`: the RBAC map as one self-contained HTML file (the page a server serves at
//! `/map/`, with its script, style and graph inline), from manifests or a server, for review
//! where there is no server to ask: nothing in it is fetched.

use crate::explain::{ExplainError, Manifests};
use clap::Args;
use std::path::PathBuf;

/// `kubeward map`'s arguments.
#[derive(Args)]
pub(crate) struct MapArgs {
    #[command(flatten)]
    manifests: Manifests,
    /// The file to write (- for standard output)
    #[arg(short = 'o', long = "output", value_name = "FILE", default_value = "-")]
    output: PathBuf,
}

/// Runs `kubeward map`: the page, or a line saying what was written where.
pub(crate) async fn run(args: &MapArgs) -> Result<String, ExplainError> {
    let loaded = args.manifests.load(true).await?;
    let findings = authz::rbac::audit::all_findings(&loaded.policy, &|b| loaded.is_default(b));
    let graph = authz::rbac::map::graph(&loaded.policy, &findings, &|_, _| true);
    let page = server::map::page(Some(&graph));
    if args.output.as_os_str() == "-" {
        return Ok(page);
    }
    std::fs::write(&args.output, page.as_bytes())
        .map_err(|e| ExplainError::Write(args.output.display().to_string(), e))?;
    let count = |k: &str| graph[k].as_array().map_or(0, Vec::len);
    Ok(format!(
        "wrote {}: {} bindings, {} roles, {} subjects, {} findings\n",
        args.output.display(),
        count("bindings"),
        count("roles"),
        count("subjects"),
        count("findings"),
    ))
}
