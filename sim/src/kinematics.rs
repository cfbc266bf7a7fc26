//! The robot's link tree as read from the description, and planar forward kinematics (used
//! to place the robot on the ground at reset and to find the joints above the contacts).

use strider_robot::{MAX_CONTACTS, MAX_JOINTS, RobotSpec, Shape};

use crate::error::SimError;
use crate::terrain::Terrain;

/// A link frame in the world (origin at the link's centre of mass), with its velocity.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkPose {
    /// m.
    pub x: f64,
    /// m.
    pub y: f64,
    /// rad, counter-clockwise positive.
    pub angle: f64,
    /// m/s.
    pub vx: f64,
    /// m/s.
    pub vy: f64,
    /// rad/s.
    pub omega: f64,
}

impl LinkPose {
    /// A point given in this link's frame, in world coordinates.
    pub fn point(&self, local: [f64; 2]) -> [f64; 2] {
        let (s, c) = self.angle.sin_cos();
        [self.x + c * local[0] - s * local[1], self.y + s * local[0] + c * local[1]]
    }
}

/// Link indices (spec order) of each joint's parent and child, and the insertion order.
/// Every per-joint list has one entry per joint of the description, in joint order.
#[derive(Debug, Clone)]
pub(crate) struct Kinematics {
    /// The IMU link: root of the tree.
    pub root: usize,
    pub parent: Vec<usize>,
    pub child: Vec<usize>,
    /// Joints ordered so that every parent is already in the tree.
    pub insert_order: Vec<usize>,
    /// The link of each contact switch, in the description's contact order.
    pub contacts: Vec<usize>,
    parent_anchor: Vec<[f64; 2]>,
    child_anchor: Vec<[f64; 2]>,
    /// Capsule segment end points in the link frame, and radius.
    segments: Vec<([[f64; 2]; 2], f64)>,
}

impl Kinematics {
    pub(crate) fn new(spec: &RobotSpec) -> Result<Kinematics, SimError> {
        let unsupported = |field: &str, problem: &str| SimError::UnsupportedRobot {
            robot: spec.name.clone(),
            field: field.into(),
            problem: problem.into(),
        };
        let joints = spec.joints.len();
        if !(1..=MAX_JOINTS).contains(&joints) {
            return Err(unsupported(
                "joints",
                &format!("{joints} joints: the simulator builds robots of 1 to {MAX_JOINTS} revolute joints"),
            ));
        }
        if spec.sensors.contacts.len() > MAX_CONTACTS {
            return Err(unsupported(
                "sensors.contacts",
                &format!("{} contacts: describe at most {MAX_CONTACTS}", spec.sensors.contacts.len()),
            ));
        }
        let index = |name: &str, field: &str| {
            spec.links.iter().position(|l| l.name == name).ok_or_else(|| unsupported(field, "names no link"))
        };
        let root = index(&spec.sensors.imu_link, "sensors.imu_link")?;
        let contacts = spec
            .sensors
            .contacts
            .iter()
            .enumerate()
            .map(|(k, c)| index(&c.link, &format!("sensors.contacts[{k}].link")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut parent = vec![0; joints];
        let mut child = vec![0; joints];
        for (j, js) in spec.joints.iter().enumerate() {
            parent[j] = index(&js.parent, &format!("joints[{j}].parent"))?;
            child[j] = index(&js.child, &format!("joints[{j}].child"))?;
        }
        if child.contains(&root) {
            return Err(unsupported("sensors.imu_link", "the IMU link must be the root (no joint's child)"));
        }
        let mut in_tree = vec![false; spec.links.len()];
        in_tree[root] = true;
        let mut insert_order = Vec::with_capacity(joints);
        while insert_order.len() < joints {
            let next = (0..joints).find(|&j| !insert_order.contains(&j) && in_tree[parent[j]]);
            let Some(j) = next else {
                return Err(unsupported("joints", "every joint's parent must connect to the IMU link"));
            };
            in_tree[child[j]] = true;
            insert_order.push(j);
        }
        if in_tree.iter().any(|t| !t) {
            return Err(unsupported("links", "every link must hang from the IMU link through joints"));
        }
        let segments = spec
            .links
            .iter()
            .map(|l| {
                let Shape::Capsule { axis, length_m, radius_m } = l.shape;
                let h = length_m / 2.0;
                let ends = match axis {
                    strider_robot::Axis::X => [[-h, 0.0], [h, 0.0]],
                    strider_robot::Axis::Y => [[0.0, -h], [0.0, h]],
                };
                (ends, radius_m)
            })
            .collect();
        Ok(Kinematics {
            root,
            parent,
            child,
            insert_order,
            contacts,
            parent_anchor: spec.joints.iter().map(|j| j.parent_anchor_m).collect(),
            child_anchor: spec.joints.iter().map(|j| j.child_anchor_m).collect(),
            segments,
        })
    }

    /// Every link's pose for a root pose and joint angles in joint order (velocities zero).
    pub(crate) fn forward(&self, root: LinkPose, q: &[f64]) -> Vec<LinkPose> {
        let mut poses = vec![LinkPose::default(); self.segments.len()];
        poses[self.root] = LinkPose { vx: 0.0, vy: 0.0, omega: 0.0, ..root };
        for &j in &self.insert_order {
            let p = poses[self.parent[j]];
            let anchor = p.point(self.parent_anchor[j]);
            let angle = p.angle + q[j];
            let (s, c) = angle.sin_cos();
            let [ax, ay] = self.child_anchor[j];
            poses[self.child[j]] = LinkPose {
                x: anchor[0] - (c * ax - s * ay),
                y: anchor[1] - (s * ax + c * ay),
                angle,
                ..LinkPose::default()
            };
        }
        poses
    }

    /// An upright root pose at `x` with the lowest point of the robot just touching the
    /// ground.
    pub(crate) fn standing_root(&self, terrain: &Terrain, x: f64, q: &[f64]) -> LinkPose {
        let probe = LinkPose { x, ..LinkPose::default() };
        let poses = self.forward(probe, q);
        let clearance = poses
            .iter()
            .zip(&self.segments)
            .flat_map(|(pose, (ends, r))| {
                ends.map(|e| {
                    let [px, py] = pose.point(e);
                    py - r - terrain.height_at(px)
                })
            })
            .fold(f64::INFINITY, f64::min);
        // Half a millimetre of air: the first step settles it without an impact.
        LinkPose { y: -clearance + 0.0005, ..probe }
    }

    /// The joint whose child is link `i` (`None` for the root).
    pub(crate) fn joint_above(&self, i: usize) -> Option<usize> {
        self.child.iter().position(|&c| c == i)
    }

    /// The links from the root down to link `i`, the root left out, top down.
    pub(crate) fn chain_to(&self, i: usize) -> Vec<usize> {
        let mut links = Vec::new();
        let mut at = i;
        while let Some(j) = self.joint_above(at) {
            links.push(at);
            at = self.parent[j];
        }
        links.reverse();
        links
    }

    /// The world position of joint `j` (for an ankle: the point the expert balances over).
    pub(crate) fn joint_position(&self, poses: &[LinkPose], j: usize) -> [f64; 2] {
        poses[self.parent[j]].point(self.parent_anchor[j])
    }

    /// Lowest point of any link above the terrain, m (negative = penetrating).
    #[cfg(test)]
    pub(crate) fn clearance(&self, terrain: &Terrain, poses: &[LinkPose]) -> f64 {
        poses
            .iter()
            .zip(&self.segments)
            .flat_map(|(pose, (ends, r))| {
                ends.map(|e| pose.point(e)[1] - r - terrain.height_at(pose.point(e)[0]))
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// Capsule segments in the world for drawing: end points and radius.
    pub(crate) fn capsules(&self, poses: &[LinkPose]) -> Vec<([[f64; 2]; 2], f64)> {
        poses.iter().zip(&self.segments).map(|(p, (ends, r))| (ends.map(|e| p.point(e)), *r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zero_pose_stacks_the_reference_links_to_its_standing_height() {
        let spec = RobotSpec::reference();
        let kin = Kinematics::new(&spec).unwrap();
        let zero = vec![0.0; spec.joints.len()];
        let root = kin.standing_root(&Terrain::flat(), 0.0, &zero);
        // Walker2d: torso centre at 1.25 m with the feet 0.1 m up; 0.04 m lower in contact.
        assert!((root.y - 1.21).abs() < 1e-3, "torso at {}", root.y);
        let poses = kin.forward(root, &zero);
        assert!(kin.clearance(&Terrain::flat(), &poses).abs() < 1e-3);
        // The foot points forward from the ankle.
        let ankle = kin.joint_position(&poses, 2);
        assert!((poses[kin.contacts[0]].x - ankle[0] - 0.1).abs() < 1e-9);
        // The right leg, top down: thigh, shin, foot.
        let names: Vec<&str> =
            kin.chain_to(kin.contacts[0]).iter().map(|&i| spec.links[i].name.as_str()).collect();
        assert_eq!(names, ["right_thigh", "right_shin", "right_foot"]);
        assert_eq!(kin.joint_above(kin.root), None);
    }
}
