import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes connections that hold the server without finishing a request.
///
/// The idle timeout alone cannot: a client that trickles a byte now and then is never idle. So
/// a connection must deliver a whole request head within `idle + request` seconds of opening
/// (or of its previous response), and the rest of that request within `request` seconds of its
/// head. A response sent before its request was read in full (a 401, 404 or 413 answered from
/// the head) ends the connection once the rest arrived or after a short linger, instead of the
/// server reading whatever the client still trickles; the linger (as nginx's lingering close)
/// lets a client still uploading read the answer rather than a reset. Such clients then cost
/// one connection for seconds, not for as long as they like.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case awaitingHead
        case readingBody
        case responding
        /// Answered early: the rest of the request is read and dropped until it ends or the
        /// linger runs out, then the connection closes.
        case lingering
    }

    static let linger = TimeAmount.seconds(2)

    let idle: TimeAmount
    let request: TimeAmount
    private var state = State.awaitingHead
    private var closeAfterResponse = false
    private var timer: Scheduled<Void>?

    init(idleSeconds: Int, requestSeconds: Int) {
        idle = .seconds(Int64(idleSeconds))
        request = .seconds(Int64(requestSeconds))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, in: idle + request) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, in: idle + request)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            state = .readingBody
            arm(context, in: request)
        case .body:
            break
        case .end:
            if state == .lingering {
                context.fireChannelRead(data)
                disarm()
                context.close(promise: nil)
                return
            }
            state = .responding
            // The handler may take as long as its own limits allow (queries, exports).
            disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            // Answered before the request was read through: no reason to read the rest.
            if state == .readingBody { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            if closeAfterResponse {
                context.writeAndFlush(data, promise: promise)
                state = .lingering
                arm(context, in: Self.linger)
                return
            }
            context.write(data, promise: promise)
            state = .awaitingHead
            arm(context, in: idle + request)
        }
    }

    private func arm(_ context: ChannelHandlerContext, in delay: TimeAmount) {
        disarm()
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: delay) { [self] in
            timer = nil
            if state != .responding { context.close(promise: nil) }
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
