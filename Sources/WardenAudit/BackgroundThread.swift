import Glibc

/// Starts `body` on a new detached POSIX thread. Foundation's Thread would do, but its first
/// use in a process sets up Foundation's thread machinery, about a millisecond that the
/// runner would pay on every launch.
public func startBackgroundThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    if rc == 0 {
        pthread_detach(thread)
    } else {
        // No thread to be had: run here rather than lose the work.
        Unmanaged<Box>.fromOpaque(context).takeRetainedValue().body()
    }
}
