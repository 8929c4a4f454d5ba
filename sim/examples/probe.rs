use rapier3d::prelude::*;
use rapier3d_mjcf::*;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let substeps: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let opts = MjcfLoaderOptions {
        skip_plane_geoms: false,
        contact_filter_mode: ContactFilterMode::Asymmetric,
        ..Default::default()
    };
    let (robot, _model) = MjcfRobot::from_file(&path, opts).unwrap();
    let mut bodies = RigidBodySet::new();
    let mut colliders = ColliderSet::new();
    let mut ij = ImpulseJointSet::new();
    let mut mj = MultibodyJointSet::new();
    let nact = robot.actuators.len();
    let imp = std::env::var("IMP").is_ok();
    let (mh, ih) = if imp {
        (
            None,
            Some(robot.insert_using_impulse_joints(&mut bodies, &mut colliders, &mut ij)),
        )
    } else {
        (
            Some(robot.insert_using_multibody_joints(
                &mut bodies,
                &mut colliders,
                &mut mj,
                &mut ij,
                MjcfMultibodyOptions::empty(),
            )),
            None,
        )
    };
    println!("multibodies {}", mj.multibodies().count());
    println!(
        "bodies {} colliders {} act {}",
        bodies.len(),
        colliders.len(),
        nact
    );
    let mut params = IntegrationParameters::default();
    params.dt = 0.004;
    params.num_solver_iterations = substeps;
    let mut pipeline = PhysicsPipeline::new();
    let mut islands = IslandManager::new();
    let mut broad = BroadPhaseBvh::new();
    let mut narrow = NarrowPhase::new();
    let mut ccd = CCDSolver::new();
    let mut soft = SoftBodySet::new();
    let gravity = Vector::new(0.0, 0.0, -9.81);
    let mut ctrl = vec![0.0; nact];
    let mut seed = 1u64;
    let n = 20000;
    let t = Instant::now();
    let mut contacts = 0usize;
    for i in 0..n {
        if i % 10 == 0 {
            for (k, c) in ctrl.iter_mut().enumerate() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (seed >> 33) as f32 / (1u64 << 31) as f32;
                let a = if let Some(h) = &mh {
                    &h.actuators[k].actuator
                } else {
                    &ih.as_ref().unwrap().actuators[k].actuator
                };
                let (lo, hi) = a
                    .ctrl_range
                    .map(|r| (r[0] as f32, r[1] as f32))
                    .unwrap_or((-1.0, 1.0));
                *c = lo + u * (hi - lo);
            }
            if let Some(h) = &mh {
                h.apply_controls_multibody(&mut bodies, &mut mj, &ctrl);
            } else {
                ih.as_ref().unwrap().apply_controls(&mut ij, &ctrl);
            }
        }
        pipeline.step(
            gravity,
            &params,
            &mut islands,
            &mut broad,
            &mut narrow,
            &mut bodies,
            &mut colliders,
            &mut ij,
            &mut mj,
            &mut soft,
            &mut ccd,
            &(),
            &(),
        );
        contacts += narrow
            .contact_pairs()
            .filter(|p| p.has_any_active_contact())
            .count();
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{path} substeps {substeps}: {:.0} steps/s, mean active contact pairs {:.2}",
        n as f64 / dt,
        contacts as f64 / n as f64
    );
    // tracking test: command wrist tz=-0.1, rz=0.5, finger flex 1.0
    let mut c2 = vec![0.0f32; nact];
    c2[2] = -0.1;
    c2[5] = 0.5;
    for k in 6..nact {
        if k % 4 != 2 {
            c2[k] = 1.0;
        }
    }
    if let Some(h) = &mh {
        h.apply_controls_multibody(&mut bodies, &mut mj, &c2);
    } else {
        ih.as_ref().unwrap().apply_controls(&mut ij, &c2);
    }
    for _ in 0..500 {
        pipeline.step(
            gravity,
            &params,
            &mut islands,
            &mut broad,
            &mut narrow,
            &mut bodies,
            &mut colliders,
            &mut ij,
            &mut mj,
            &mut soft,
            &mut ccd,
            &(),
            &(),
        );
    }
    for (_i, b) in bodies.iter() {
        if b.mass() > 0.001 {
            print!(
                "[{:.3} {:.3} {:.3}] ",
                b.translation().x,
                b.translation().y,
                b.translation().z
            );
        }
    }
    println!();
    for (_i, b) in bodies.iter() {
        print!("{:.4} ", b.mass());
    }
    println!();
}
