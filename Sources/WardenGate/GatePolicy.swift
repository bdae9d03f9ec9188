import WardenPolicy

/// The workspace policy (`policies/*.yaml`) as the gate applies it: a role's validator gets
/// its profile's write zones, the workspace's ownership zones and the `gate:` limits.
extension GateLimits {
    public init(_ settings: GateSettings) {
        let defaults = GateLimits()
        self.init(maxEntries: settings.maxFiles ?? defaults.maxEntries,
                  maxFileBytes: settings.maxFileBytes.map(clampedBytes) ?? defaults.maxFileBytes,
                  maxTotalBytes: settings.maxBytes.map(clampedBytes) ?? defaults.maxTotalBytes,
                  maxDepth: settings.maxDepth ?? defaults.maxDepth,
                  // Longer than this cannot be created beneath a workspace root at all.
                  maxPathBytes: min(settings.maxPath ?? defaults.maxPathBytes, GatePath.maxBytes))
    }
}

private func clampedBytes(_ n: UInt64) -> Int64 { n > UInt64(Int64.max) ? Int64.max : Int64(n) }

extension GateValidator {
    /// The validator for `profile`'s commits under the workspace `policy`.
    public init(profile: Profile, policy: WorkspacePolicy) {
        self.init(role: profile.role, zones: profile.write,
                  ownership: policy.ownership.map { OwnershipZone(zone: $0.zone, owner: $0.owner.value) },
                  limits: GateLimits(policy.gate))
        profileFile = profile.file
    }
}
