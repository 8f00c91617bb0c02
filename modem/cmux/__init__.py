"""GSM 07.10 / 3GPP TS 27.010 multiplexer (CMUX), basic option: one serial line, several channels.

- `fcs`: the frame check sequence (CRC-8 of §5.2.1.6, with crcmod);
- `frame`: frames, the encoder and the resynchronising decoder;
- `control`: the control-channel messages on DLCI 0 (MSC, CLD, Test, PSC, FCon/FCoff, NSC);
- `mux`: the sans-IO multiplexer state machine for either end (T1/N2, T2, flow control);
- `channel`: a `runtime.Stream` per DLCI on the loop, so an unchanged AT channel or AT interpreter
  runs over a multiplexer channel.

Both ends (the driver and the virtual modem) use this package, but only as a codec that an outside
implementation checks (DESIGN.md §1: the tests check it against Zephyr's modem_cmux test vectors).
"""
