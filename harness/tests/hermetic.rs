//! No harness container has a route off this machine. The guard is scripts/setup's iptables chain
//! MVE-ISOLATION, hooked first into DOCKER-USER, which drops forwarded traffic between `mve-*`
//! bridges and anything else. A functional probe would have to send packets off the machine, which
//! the harness must never do, so this checks the guard itself and that every harness network is a
//! bridge the guard covers.

use std::process::Command;

use harness::Stack;

/// Reads the rules as root, or through `sudo -n` for any other user (GitHub's `runner` has
/// passwordless sudo): reading iptables needs root, and running `iptables` directly failed this
/// test for every user but root (review U2). Without either it fails, saying so: the guard cannot be
/// seen otherwise (a probe would have to send packets off the machine).
fn iptables(args: &[&str]) -> String {
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = if root { Command::new("iptables") } else { Command::new("sudo") };
    if !root {
        command.args(["-n", "iptables"]);
    }
    let out = command.args(args).output().expect("iptables (or sudo) not runnable: scripts/setup installs iptables");
    assert!(
        out.status.success(),
        "iptables {args:?} as uid {}{}: {}\nreading the egress guard needs root: run as root, or give this user passwordless sudo for iptables",
        unsafe { libc::geteuid() },
        if root { "" } else { " through sudo -n" },
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn egress_guard_is_hooked_first_into_docker_user() {
    let docker_user = iptables(&["-S", "DOCKER-USER"]);
    let first_rule = docker_user.lines().find(|l| l.starts_with("-A ")).unwrap_or_default();
    assert_eq!(first_rule, "-A DOCKER-USER -j MVE-ISOLATION", "guard missing or not first; run scripts/setup:\n{docker_user}");

    let chain: Vec<String> = iptables(&["-S", "MVE-ISOLATION"]).lines().map(str::to_string).collect();
    assert_eq!(
        chain,
        ["-N MVE-ISOLATION", "-A MVE-ISOLATION -i mve+ -o mve+ -j RETURN", "-A MVE-ISOLATION -i mve+ -j DROP", "-A MVE-ISOLATION -o mve+ -j DROP",],
        "MVE-ISOLATION differs from scripts/setup's; run scripts/setup"
    );
}

#[tokio::test]
async fn every_harness_network_is_a_guarded_mve_bridge() -> anyhow::Result<()> {
    let stack = Stack::builder().redis().private().await?;
    let docker = harness::docker::connect().await?;
    let network = stack.network().unwrap();
    let inspect = docker.inspect_network(network, None::<testcontainers::bollard::query_parameters::InspectNetworkOptions>).await?;
    let bridge = inspect.options.unwrap_or_default().get("com.docker.network.bridge.name").cloned().unwrap_or_default();
    assert!(bridge.starts_with("mve-") && bridge.len() <= 15, "bridge {bridge:?} is not covered by the mve+ guard");
    assert_eq!(inspect.internal, Some(false), "internal networks do not publish ports to the tests");

    let id = stack.redis()?.container_id().unwrap();
    let container = docker.inspect_container(id, None::<testcontainers::bollard::query_parameters::InspectContainerOptions>).await?;
    let networks = container.network_settings.and_then(|n| n.networks).unwrap_or_default();
    assert_eq!(networks.keys().collect::<Vec<_>>(), vec![network], "container joined a network outside the guard");
    Ok(())
}
