import BGPSpeaker
print(IPv4Prefix("192.0.2.0/24")!)
