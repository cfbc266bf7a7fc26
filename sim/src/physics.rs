//! The rapier2d world of one episode. The only module that imports rapier: everything else
//! sees link poses, joint states, contacts and the three verbs `apply`, `step`, `build`.
//!
//! Modelling choices (measured on the reference biped, see `docs/SIM.md`): every body's
//! mass and inertia are set explicitly (rapier2d would derive them from the *area*);
//! multibody (reduced-coordinate) joints, because explicit PD torques on impulse joints go
//! unstable at dt 2 ms on the light foot; friction combined by maximum as MuJoCo does; no
//! self-collision; no sleeping (a still robot must keep answering torques).

use rapier2d::prelude::*;
use strider_robot::{RobotSpec, Shape};

use crate::error::SimError;
use crate::kinematics::{Kinematics, LinkPose};
use crate::terrain::Terrain;

/// Robot bodies touch the ground only; the ground touches the robot only.
const ROBOT: InteractionGroups =
    InteractionGroups::new(Group::GROUP_1, Group::GROUP_2, InteractionTestMode::And);
const GROUND: InteractionGroups =
    InteractionGroups::new(Group::GROUP_2, Group::GROUP_1, InteractionTestMode::And);

/// What varies per episode in the physical model.
pub(crate) struct BuildParams<'a> {
    pub terrain: &'a Terrain,
    pub friction_scale: f64,
    /// One factor per link on mass and inertia, in spec link order.
    pub link_mass_scale: &'a [f64],
    /// Joint angles at reset, rad, one per joint in joint order.
    pub joint_pos: &'a [f64],
    /// Torso (root link) x at reset, m.
    pub start_x: f64,
}

pub(crate) struct Physics {
    world: PhysicsWorld,
    bodies: Vec<RigidBodyHandle>,
    colliders: Vec<ColliderHandle>,
    ground: ColliderHandle,
    masses: Vec<f64>,
}

impl Physics {
    pub(crate) fn build(spec: &RobotSpec, kin: &Kinematics, p: &BuildParams) -> Result<Physics, SimError> {
        let mut world = PhysicsWorld::new();
        world.gravity = Vector::new(0.0, -(spec.physics.gravity_mps2 as f32));
        world.integration_parameters.dt = spec.physics_dt_s() as f32;
        world.integration_parameters.num_solver_iterations = spec.physics.solver_iterations as usize;

        let ground_pts: Vec<Vector> =
            p.terrain.vertices.iter().map(|v| Vector::new(v[0] as f32, v[1] as f32)).collect();
        let ground = world.insert_collider(
            ColliderBuilder::polyline(ground_pts, None)
                .friction((spec.physics.ground_friction * p.friction_scale) as f32)
                .friction_combine_rule(CoefficientCombineRule::Max)
                .collision_groups(GROUND),
            None,
        );

        let root_pose = kin.standing_root(p.terrain, p.start_x, p.joint_pos);
        let poses = kin.forward(root_pose, p.joint_pos);
        let mut bodies = Vec::with_capacity(spec.links.len());
        let mut colliders = Vec::with_capacity(spec.links.len());
        let mut masses = Vec::with_capacity(spec.links.len());
        for (i, link) in spec.links.iter().enumerate() {
            let scale = p.link_mass_scale.get(i).copied().unwrap_or(1.0);
            let (mass, inertia) = (link.mass_kg * scale, link.inertia_kgm2 * scale);
            masses.push(mass);
            // Spawned at rotation 0 so that each multibody coordinate starts at zero; the
            // standing pose is applied to the coordinates below.
            let body = RigidBodyBuilder::dynamic()
                .translation(Vector::new(poses[i].x as f32, poses[i].y as f32))
                .additional_mass_properties(MassProperties::new(Vector::ZERO, mass as f32, inertia as f32))
                .can_sleep(false);
            let h = world.insert_body(body);
            let Shape::Capsule { axis, length_m, radius_m } = link.shape;
            let half = (length_m / 2.0) as f32;
            let shape = match axis {
                strider_robot::Axis::X => ColliderBuilder::capsule_x(half, radius_m as f32),
                strider_robot::Axis::Y => ColliderBuilder::capsule_y(half, radius_m as f32),
            };
            let c = world.insert_collider(
                shape
                    .density(0.0)
                    .friction((link.friction * p.friction_scale) as f32)
                    .friction_combine_rule(CoefficientCombineRule::Max)
                    .collision_groups(ROBOT),
                Some(h),
            );
            bodies.push(h);
            colliders.push(c);
        }
        // The root's pose must be right before the first joint makes it a multibody root.
        world.bodies[bodies[kin.root]].set_rotation(Rotation::new(root_pose.angle as f32), true);

        let mut handles = Vec::with_capacity(spec.joints.len());
        for &j in &kin.insert_order {
            let js = &spec.joints[j];
            let [lo, hi] = js.limits_rad();
            let joint = RevoluteJointBuilder::new()
                .local_anchor1(Vector::new(js.parent_anchor_m[0] as f32, js.parent_anchor_m[1] as f32))
                .local_anchor2(Vector::new(js.child_anchor_m[0] as f32, js.child_anchor_m[1] as f32))
                .limits([lo as f32, hi as f32])
                .contacts_enabled(false);
            let h = world
                .insert_multibody_joint(bodies[kin.parent[j]], bodies[kin.child[j]], joint)
                .ok_or_else(|| SimError::UnsupportedRobot {
                    robot: spec.name.clone(),
                    field: format!("joints[{j}] ({})", js.name),
                    problem: "rapier refused this joint: the links must form a tree".into(),
                })?;
            handles.push((j, h));
        }
        let mut multibody = None;
        for &(j, h) in &handles {
            let (mb, link) = world.multibody_joints.get_mut(h).expect("joint just inserted");
            mb.link_mut(link)
                .expect("link of an inserted joint")
                .joint
                .apply_displacement(&[p.joint_pos[j] as f32]);
            multibody = Some(h);
        }
        if let Some(h) = multibody {
            let (mb, _) = world.multibody_joints.get_mut(h).expect("joint just inserted");
            mb.forward_kinematics(&world.bodies, true);
            mb.update_rigid_bodies(&mut world.bodies, true);
        }
        Ok(Physics { world, bodies, colliders, ground, masses })
    }

    /// Sets every friction coefficient, ground and links, to `scale` × its nominal value
    /// (as [`Physics::build`] does with `friction_scale`), from the next step on.
    pub(crate) fn set_friction_scale(&mut self, spec: &RobotSpec, scale: f64) {
        self.world.colliders[self.ground].set_friction((spec.physics.ground_friction * scale) as f32);
        for (link, &c) in spec.links.iter().zip(&self.colliders) {
            self.world.colliders[c].set_friction((link.friction * scale) as f32);
        }
    }

    /// Clears last step's user forces and applies these: a torque per joint in joint order
    /// (on the child, and its reaction on the parent) and a horizontal force on the root link.
    pub(crate) fn apply(&mut self, kin: &Kinematics, torques: &[f64], root_force_x: f64) {
        // rapier keeps user forces until they are reset.
        for &h in &self.bodies {
            let rb = &mut self.world.bodies[h];
            rb.reset_forces(false);
            rb.reset_torques(false);
        }
        for (j, &tau) in torques.iter().enumerate() {
            self.world.bodies[self.bodies[kin.child[j]]].add_torque(tau as f32, false);
            self.world.bodies[self.bodies[kin.parent[j]]].add_torque(-tau as f32, false);
        }
        if root_force_x != 0.0 {
            self.world.bodies[self.bodies[kin.root]].add_force(Vector::new(root_force_x as f32, 0.0), false);
        }
    }

    pub(crate) fn step(&mut self) {
        self.world.step();
    }

    /// Pose and velocity of a link's centre of mass (the link frame's origin).
    pub(crate) fn link(&self, i: usize) -> LinkPose {
        let rb = &self.world.bodies[self.bodies[i]];
        let t = rb.translation();
        let v = rb.linvel();
        LinkPose {
            x: f64::from(t.x),
            y: f64::from(t.y),
            angle: f64::from(rb.rotation().angle()),
            vx: f64::from(v.x),
            vy: f64::from(v.y),
            omega: f64::from(rb.angvel()),
        }
    }

    pub(crate) fn mass(&self, i: usize) -> f64 {
        self.masses[i]
    }

    /// True when rapier has a solver contact (including a speculative one, a few mm before
    /// touchdown) between the link and the ground, as a contact switch would report.
    pub(crate) fn touches_ground(&self, i: usize) -> bool {
        self.world.contact_pair(self.colliders[i], self.ground).is_some_and(|p| p.has_any_active_contact())
    }
}
