"""Everything that plugs into Rasa: input channels, NLU components, tracker and lock stores,
in-process actions, and the speed-ups. Importing it changes nothing in Rasa: the changes to Rasa's
own code are installed by one start-up hook, startup.install_speedups (see there why and where)."""
