//! End-to-end tests of `dexstudio studio`: what it says without a display,
//! and (opt-in, it needs xvfb and a Vulkan driver) a real screenshot.

use std::process::Command;

fn studio(display: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dexstudio"));
    cmd.arg("studio").args(args).env_remove("WAYLAND_DISPLAY");
    match display {
        Some(d) => cmd.env("DISPLAY", d),
        None => cmd.env_remove("DISPLAY"),
    };
    let out = cmd.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_a_display_it_says_what_to_run() {
    let (ok, stderr) = studio(None, &["--task", "scissors"]);
    assert!(!ok);
    for needle in [
        "no display found",
        "xvfb-run -a -s \"-screen 0 1280x720x24\" env WGPU_BACKEND=vulkan",
        "dexstudio studio --task scissors",
        "dexstudio --help",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in: {stderr}");
    }
}

#[test]
fn the_bare_command_opens_the_studio_or_says_what_to_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_dexstudio"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in [
        "no display found",
        "xvfb-run -a -s \"-screen 0 1280x720x24\" env WGPU_BACKEND=vulkan dexstudio`",
        "dexstudio --help",
        "dexstudio sim demo",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in: {stderr}");
    }
}

#[test]
fn an_unknown_task_fails_before_any_window() {
    // A display that does not exist: the task is checked before winit runs.
    let (ok, stderr) = studio(Some(":4242"), &["--task", "no-such-task"]);
    assert!(!ok);
    assert!(stderr.contains("no-such-task"), "{stderr}");
}

#[test]
fn a_student_driver_needs_a_student_before_any_window() {
    let session =
        std::env::temp_dir().join(format!("dexstudio-cli-student-{}", std::process::id()));
    let s = session.to_string_lossy();
    let base = [
        "--session",
        &s,
        "--task",
        "reach-easy",
        "--driver",
        "student",
    ];
    let (ok, stderr) = studio(Some(":4242"), &base);
    assert!(!ok);
    assert!(
        stderr.contains("--driver student needs --student DIR"),
        "{stderr}"
    );
    let (ok, stderr) = studio(
        Some(":4242"),
        &[&base[..], &["--student", "/nonexistent/s"]].concat(),
    );
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/s/student.json"), "{stderr}");
    let _ = std::fs::remove_dir_all(&session);
}

/// The GUI smoke test: open the studio under Xvfb + lavapipe, step a task,
/// save a screenshot, check it is not blank. `.ci/run` installs xvfb and
/// Mesa's Vulkan driver; where `xvfb-run` is missing the test says so and
/// skips.
#[test]
fn screenshot_under_xvfb_shows_the_scene() {
    let has_xvfb = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("xvfb-run").is_file()));
    if !has_xvfb {
        eprintln!(
            "skipped: xvfb-run not found (apt-get install -y xvfb mesa-vulkan-drivers libvulkan1)"
        );
        return;
    }
    let path = std::env::temp_dir().join(format!("dexstudio-smoke-{}.png", std::process::id()));
    let out = Command::new("xvfb-run")
        .args([
            "-a",
            "-s",
            "-screen 0 1280x720x24",
            "env",
            "WGPU_BACKEND=vulkan",
        ])
        .arg(env!("CARGO_BIN_EXE_dexstudio"))
        .args([
            "studio",
            "--task",
            "obj-hold-easy",
            "--frames",
            "20",
            "--screenshot",
        ])
        .arg(&path)
        .output()
        .expect("xvfb-run runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let bytes = std::fs::read(&path).expect("the screenshot exists");
    let _ = std::fs::remove_file(&path);
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("pixels");
    assert_eq!((info.width, info.height), (1280, 720));
    let rgb = &buf[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> = rgb.chunks(3).collect();
    assert!(
        distinct.len() > 500,
        "a flat image: {} colours",
        distinct.len()
    );
}
