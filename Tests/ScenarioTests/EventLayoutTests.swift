import Testing
import Telephony

/// Engine events are small, trivially copyable values (issue 9 item 5): a heap sift moves a few
/// words and no event retains a string or an object (packets, commands, legs and addresses are
/// carried as integer ids into side tables).
@Suite struct EventLayoutTests {
    @Test func eventsAreTriviallyCopyableAndSmall() {
        #expect(_isPOD(Event.self), "an Event case carries a reference-counted payload (a String, an array, a class)")
        #expect(MemoryLayout<Event>.size <= 32, "Event is \(MemoryLayout<Event>.size) bytes")
    }
}
