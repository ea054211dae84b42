"""From a continuum to a runnable experiment and a fitted curve: the offline jsPsych page
(:mod:`.page`), Praat and pyoperant files (:mod:`.rigs`), reading responses (:mod:`.responses`),
psychometric fits (:mod:`.psychometric`, :mod:`.fits`), discrimination (:mod:`.discrimination`)
and the fit's output folder (:mod:`.report`)."""
