//! `weavedrive demo`: an offline tour on the embedded local gateway.

pub async fn run(_large_mib: u64, _serve: bool) -> anyhow::Result<()> {
    anyhow::bail!("demo: the embedded gateway is not wired in yet")
}
