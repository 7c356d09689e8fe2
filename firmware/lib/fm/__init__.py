# finemotor firmware library, shared by the stylus and the grip dynamometer.
