import CSandbox
import WardenPolicy

/// Where a run's private view of the workspace lives: an immutable snapshot as the lower
/// layer, and the run's own upper and work directories (WardenGate's `View` prepares them).
/// The launcher mounts it over the workspace path in the agent's mount namespace.
public struct ViewMount: Sendable {
    public var lower: String
    public var upper: String
    public var work: String
    /// Directories under the workspace the agent must not reach at all (the gate's snapshots
    /// share inodes with the workspace; other runs' upper layers are theirs).
    public var hidden: [String]

    public init(lower: String, upper: String, work: String, hidden: [String]) {
        self.lower = lower
        self.upper = upper
        self.work = work
        self.hidden = hidden
    }

    /// overlayfs options. Renamed directories, metadata-only copy-ups and the inode index are
    /// off: each would store part of a change as an xattr pointing into the lower layer,
    /// which a changeset cannot carry. `userxattr` lets an unprivileged user namespace mount
    /// it (opaque directories are then marked with `user.overlay.opaque`); it implies no
    /// redirects and no metacopy.
    public func options(userNamespace: Bool) -> String {
        // Appended, not an array joined: the generic join's first use cost a launch 0.1 ms.
        var out = "lowerdir=" + Self.escape(lower) + ",upperdir=" + Self.escape(upper) + ",workdir=" + Self.escape(work)
        out += ",index=off,xino=off,volatile"
        // userxattr already rules out both (and refuses them spelled out).
        out += userNamespace ? ",userxattr" : ",redirect_dir=off,metacopy=off"
        return out
    }

    /// overlayfs splits its options on commas and lower layers on colons; a backslash escapes.
    static func escape(_ path: String) -> String {
        if !path.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "\\") }) {
            return path
        }
        var out = ""
        for ch in path {
            if ch == "," || ch == ":" || ch == "\\" { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    /// The plan's rules split for a view: rules at or beneath the workspace must name the
    /// view's inodes, which exist only once the child has mounted it, so the child adds them.
    static func split(_ rules: [PathRule], workspace: String) -> (parent: [PathRule], child: [PathRule]) {
        var parent: [PathRule] = [], child: [PathRule] = []
        for rule in rules {
            if FilePaths.isInside(rule.path, workspace) { child.append(rule) } else { parent.append(rule) }
        }
        return (parent, child)
    }

    /// The plan's mounts with the workspace's own bind replaced by the view, and the hidden
    /// directories covered right after it.
    func mounts(replacing planned: [PlannedMount], workspace: String, userNamespace: Bool) -> [PlannedMount] {
        var out: [PlannedMount] = []
        for m in planned {
            if m.kind == Int32(WARDEN_MOUNT_NOEXEC_BIND.rawValue), m.target == workspace {
                out.append(PlannedMount(kind: Int32(WARDEN_MOUNT_VIEW.rawValue), target: workspace,
                                        data: options(userNamespace: userNamespace)))
                for h in hidden { out.append(PlannedMount(kind: Int32(WARDEN_MOUNT_HIDE.rawValue), target: h, data: nil)) }
            } else {
                out.append(m)
            }
        }
        return out
    }
}
