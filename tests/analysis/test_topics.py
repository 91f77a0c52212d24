"""Example questions come from the names a collection's documents keep coming back to."""

from assistant.analysis.topics import example_questions, names_in


def test_names_are_capitalised_runs_not_sentence_openings():
    sentence = "Although the European Union signed the Treaty of Rome, Thomas Newcomen's and James Watt's did not."
    assert names_in(sentence) == ["European Union", "Treaty of Rome", "Thomas Newcomen", "James Watt"]
    assert names_in("Harvard Yard lies beside the Charles River.") == ["Harvard Yard", "Charles River"]
    assert names_in("The canteen serves lunch from noon.") == []


def test_questions_name_what_each_document_keeps_returning_to_then_titles():
    steam = "\n\n".join(
        [
            "Steam engines",
            "James Watt improved the engine in 1776.",
            "Later, James Watt worked with Matthew Boulton in Birmingham.",
            "The engines of James Watt spread across the United Kingdom.",
        ]
    )
    harvard = "Harvard Yard is the oldest part of the campus.\n\nStudents live around Harvard Yard."
    plain = "The canteen serves lunch from noon until two."
    questions = example_questions([("Steam engines", steam), ("Harvard", harvard), ("Canteen", plain)])
    assert questions == [
        "What do the sources say about James Watt?",
        "What do the sources say about Harvard Yard?",
        "What do the sources say about Matthew Boulton?",
    ]
    assert example_questions([("Canteen", plain), ("", plain)]) == ["What does “Canteen” say?"]


def test_names_a_sentence_gives_together_keep_the_order_they_are_written_in():
    # They were counted through a set, so their order changed with each process's string hashing.
    text = "Thomas Newcomen met James Watt, Matthew Boulton and Richard Trevithick in Birmingham."
    assert example_questions([("", text)], count=4) == [
        "What do the sources say about Thomas Newcomen?",
        "What do the sources say about James Watt?",
        "What do the sources say about Matthew Boulton?",
        "What do the sources say about Richard Trevithick?",
    ]
