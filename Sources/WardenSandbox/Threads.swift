import Glibc

/// Runs `body` on a new joinable POSIX thread; nil (and `body` not run) when no thread can be
/// had. Not Dispatch: the first use of its global queue starts a pool of worker threads, two
/// or three a launch, each with its own stack and malloc arena to fault in.
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, context)
    guard rc == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        return nil
    }
    return thread
}

/// A value computed on a thread of its own while the caller goes on; `value` waits for it.
/// Without a thread to be had, it is computed at once, on the caller's.
final class OnThread<T>: @unchecked Sendable {
    private var result: T?
    private var thread: pthread_t?

    init(_ compute: @escaping @Sendable () -> T) {
        thread = startThread { [self] in result = compute() }
        if thread == nil { result = compute() }
    }

    var value: T {
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
        return result!
    }
}
