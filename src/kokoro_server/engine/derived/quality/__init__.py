"""The quality bar that judges lossy derived models against the float reference: the rule and its
figures (:mod:`.bar`), the float reference (:mod:`.reference`), the log-mel distance (:mod:`.distance`)
and the optional listeners, Whisper and DNSMOS (:mod:`.listen`)."""
